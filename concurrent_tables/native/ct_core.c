/*
 * ct_core.c - concurrent_tables._core: the table core in C.
 *
 * Objects
 * -------
 *   Domain  shared by a top-level table and every table nested in its entries: the owner
 *           thread, the mode (thread-safe or confined to the owner) and the lock statistics.
 *   Core    one table: its name, key type, field registry (a Python FieldRegistry), default
 *           timeout, `entries` (a dict key -> Entry) and `retired` (key -> entries erased or
 *           replaced while still in use).
 *   Entry   one entry: its values (inline, or a separate array once a dynamic field grows
 *           it), its reader/writer state, the live handles on it (holders) and the threads
 *           waiting for it (a FIFO queue).
 *   Handle  what Core.read/write return (mode READ or WRITE), and DetachedEntry (mode
 *           DETACHED) what Core.create_entry returns. Reused through a free list.
 *
 * Entry state machine
 * -------------------
 *   `state` counts the grants: 0 free, n > 0 n readers, -1 one writer. A grant is *claimed*
 *   when its handle exists (linked in `holders`); a waiter granted by a releaser holds an
 *   unclaimed grant until it runs again. Every transition below runs while holding the GIL
 *   and without calling Python code in the middle: the GIL is the only mutex of the core, so
 *   no state needs a lock of its own, and there is no lock order beyond "entry state ->
 *   nothing" (docs/thread-safety.md).
 *
 *     acquire, no live handle (holders empty)                    -> granted at once: state =
 *                    1 or -1, after taking back any unclaimed grants (see "barging" below)
 *     acquire read   readers hold it, no waiter without a grant  -> state + 1
 *                    this thread already reads the entry         -> state + 1 (a second read
 *                                                  shares the first: never queues behind a
 *                                                  writer, which would deadlock)
 *     acquire, this thread holds a conflicting handle            -> ReentrancyError
 *                                                  (BorrowError in a confined domain), at once
 *     acquire, another thread holds a conflicting handle, or a waiter without a grant is
 *                    queued (thread-safe domain only)            -> enqueue, wait (below)
 *     release        state - 1 (or 0 for a writer); then grant queued waiters in FIFO order:
 *                    the first writer if the entry is free, else every reader up to it.
 *     native read    (the C bridge's read_entry_field, "Native ids" below) state >= 0 and no
 *                    waiter queued -> the value is read with no transition: the grant it
 *                    would take and give back in the same GIL hold is never seen; anything
 *                    else -> the full path (an acquire, the read, a release) in Python.
 *     native write   (write_entry_field of an integer or bool) state == 0 and no waiter ->
 *                    stored with no transition, likewise; anything else -> the full path.
 *
 *   Waiting. A thread that must wait queues a waiter (on its C stack) holding a fresh
 *   semaphore, releases the GIL and blocks on the semaphore in slices of at most 50 ms. A
 *   releaser grants a waiter by counting it in `state`, marking it granted and posting its
 *   semaphore, all under the GIL: no wake-up is lost. The waiter, once it has the GIL again,
 *   claims its grant (leaves the queue, gets its handle). Between slices it runs signal
 *   handlers (a KeyboardInterrupt ends the wait), checks its deadline, and recovers holders
 *   whose thread has exited. A waiter that gives up leaves the queue in the same C call
 *   (giving back a grant it got meanwhile), and the waiters behind it are granted if they now
 *   can.
 *
 *   Barging. A granted waiter may have to wait up to a GIL switch interval before it runs.
 *   A thread that asks for the entry meanwhile, while no handle on it is live, takes it at
 *   once and the unclaimed grants are taken back; the waiters are granted again when that
 *   thread releases. Without this, the running thread would block behind threads that cannot
 *   run yet (a convoy: every hand-over costs a GIL switch). A waiter is overtaken at most
 *   once per wait, so it is not starved by a thread that keeps taking the entry.

 *   Conflicts are per key. A thread's own handle on an entry since erased or replaced (a
 *   retired entry of that key) still refuses, in that thread, a conflicting handle on the key's
 *   new entry, and the erase or clear of the key: the same errors as the Python core, whose
 *   locks are per key. Other threads do not wait for retired entries.
 *
 *   After a wait the waiter checks that its entry is still the one at the key: if the entry
 *   was erased or replaced meanwhile, it gives the grant back and starts again (a handle is
 *   linearised at its acquisition, as in the Python backend).
 *
 * Interrupts
 * ----------
 *   Each acquisition, release, field read and field write is one C call: a KeyboardInterrupt
 *   or an asynchronous exception is only delivered between bytecodes, so it cannot land
 *   between two steps of a transition. A handle lost on its way to its owner (an exception
 *   right after `read` returns, a leaked handle, a generator finalised elsewhere) is
 *   released when it is deallocated, by whatever thread does so, with a ResourceWarning
 *   naming the table and key (whose traceback is where it was acquired, under tracemalloc).
 *
 * Owner died
 * ----------
 *   A thread that exits while holding a handle (kept alive by some reference) does not wedge
 *   its entry: an acquirer that would have to wait checks whether each holder's thread still
 *   runs Python code (a thread state with a frame), and releases the handles of exited threads,
 *   with a ResourceWarning; those handles are stale afterwards.
 *
 * Hot paths (the same transitions, decided in one short pass)
 * ------------------------------------------------------------
 *   A parse step (look up an entry, read 3 fields, write 2, in one `with` block) costs about
 *   as much as a dict guarded by a threading.Lock; these paths keep it so. Each handles only
 *   its common case and leaves everything else, unchanged, to the general code:
 *     acquire_uncontended  the first row of the table above ("no live handle") for a free
 *                    entry with no waiter, a one-digit int key and the table's own timeout,
 *                    when no tracer or probe is set, nothing is retired at the table, no
 *                    exporter check applies, and the handle comes from the free list (so no
 *                    Python code runs in between); a confined domain's owner takes it too
 *     handle_release_live  the release row when the entry has no waiter and nothing is
 *                    retired at the table (nobody to grant, nothing to prune)
 *     getitem / setitem    a Field of the handle's table, a one-digit int or ASCII str or bool
 *                    that surely passes the value check, no probe to call; anything else
 *                    (names, other tables' fields, dynamic fields never stored, big ints,
 *                    errors) takes the full path with the same checks and messages
 *   Last lookup. Each table remembers the entry its last lookup found at a one-digit int key,
 *   as libsinsp's fd table and thread manager remember theirs: a parse step often looks up
 *   the key the step before did (the same fd of a thread, the same thread). It is a borrowed
 *   pointer that `entries` keeps alive, forgotten (forget_last) before every change of
 *   `entries` (add, erase, clear, re-init, the cyclic GC's clear), so before anything can
 *   free the entry it names; the dict stays the truth.
 *   The with statement. CPython looks up __enter__ and __exit__ on the handle and would bind
 *   a new method object for each (two allocations per `with` block). They are WithMethod
 *   descriptors that return the handle itself, which is callable as the protocol calls them:
 *   h() is __enter__() and returns h, h(exc_type, exc, tb) is __exit__ and releases (as
 *   release()); any other call is a TypeError. Through the type they are unbound methods
 *   (Handle.__exit__(h, t, v, tb), as contextlib.ExitStack calls them). The exit is one C
 *   call, as before: an interrupt cannot split it.
 *
 * Not covered: fork() while other threads wait on an entry (their waiters live on their
 * stacks, which the child does not have), and subinterpreters (the module keeps its state,
 * the free list and the tracer, in C statics).
 *
 * Exporter check (the access matrix on raw tables)
 * -------------------------------------------------
 *   A table a plugin exported (`exporter`, set by the registry) refuses a host thread of
 *   another plugin (a listen routine or async task: its role, set_role) with
 *   ThreadAccessDeniedError, on every entry getter and structural call, as the Python core
 *   does. Threads without a role (the host's, the owner's) pay one int test while no thread
 *   has a role, and a thread-local pointer test otherwise.
 *
 * Statistics and tracer
 * ---------------------
 *   Domain counters: acquisitions (handles granted), contended (grants that had to wait),
 *   longest_wait_s, timeouts, errors (ReentrancyError / BorrowError raised), locks_in_use
 *   (entries with a live handle or a waiter). The tracer (set_tracer) is called as
 *   tracer(event, domain, table, key, write) at "acquire", "acquired" and "release" in
 *   thread-safe domains; when it is unset the cost is one pointer test.
 *
 * Probe and planted faults (stress only)
 * --------------------------------------
 *   The probe (set_probe) is `stress`'s per-handle hook, in every domain, called as
 *   probe(event, table, key, write, handle, wait_ns):
 *     "acquired"  a handle was granted (wait_ns: its wait, 0 if granted at once); if the probe
 *                 raises, the handle is released and the acquisition fails with its exception
 *     "release"   a handle was released by its thread (release(), __exit__, a pinned C-bridge
 *                 operation); not for handles ended by the collector or owner-died recovery
 *     "store"     a write handle (not a detached entry) is about to store a checked value;
 *                 raising stores nothing
 *     "wait"      a thread is about to block waiting for the entry (handle None, wait_ns so
 *                 far); raising ends the wait like a signal handler's exception would
 *   Unset, each costs one pointer test.
 *   _set_faults(mask) plants library bugs for `stress selftest` (0, the default: none). Only
 *   slow paths test the mask (a thread about to wait; a wait that failed):
 *     FAULT_OWNER_CHECK  the owner of a thread-safe domain does not wait for other threads'
 *                        handles: it takes the entry lock-free, uncounted in `state` (the
 *                        Python core's fast path without its cross-thread check)
 *     FAULT_WAIT_UNDO    a waiter whose wait fails (interrupt, timeout) skips its undo: a copy
 *                        of it stays queued for ever, so the entry is wedged once it is granted
 *                        to it (the undo that a release skipped when interrupted would miss)
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h> /* T_OBJECT_EX */
#include <math.h>
#include <stdint.h>
#include <time.h>
#ifndef _WIN32
#include <pthread.h>
#endif

#include "ct_core_api.h"

#if defined(Py_GIL_DISABLED)
#error "the table core relies on the GIL; use the Python backend on free-threaded builds"
#endif

/* ---------------------------------------------------------------------------------------- */
/* Imported Python objects                                                                  */

static PyObject *E_EntryNotFound, *E_EntryExists, *E_ForeignEntry, *E_ForeignField;
static PyObject *E_InvalidKey, *E_InvalidValue, *E_ReadOnlyField, *E_ReadOnlyHandle;
static PyObject *E_Reentrancy, *E_Borrow, *E_LockTimeout, *E_StaleHandle, *E_InvalidTimeout;
static PyObject *E_FieldArgument;
static PyTypeObject *FieldType;
static PyObject *value_problem_fn; /* concurrent_tables.types.value_problem */
static PyObject *g_tracer;         /* set_tracer's callable, or NULL */
static PyObject *g_table_timeout;  /* concurrent_tables.table.TABLE_TIMEOUT, fetched on first use */
static PyObject *S_acquire, *S_acquired, *S_release, *S_store, *S_wait;
static PyObject *g_probe; /* set_probe's callable, or NULL */
static int g_faults;      /* _set_faults's mask: planted bugs, 0 outside `stress selftest` */
/* Exporter check: how many threads have a role, this thread's role (its plugin's name, a
 * strong reference), and concurrent_tables.table.check_exporter (fetched on first use). */
static int g_roles;
static _Thread_local PyObject *t_role;
static PyObject *g_check_exporter;
enum { FAULT_OWNER_CHECK = 1, FAULT_WAIT_UNDO = 2, FAULTS_ALL = 3 };

/* Offsets of Field's __slots__, read directly on the hot path. */
static Py_ssize_t OFF_registry, OFF_index, OFF_type, OFF_private, OFF_read_only;
static Py_ssize_t OFF_nested, OFF_default, OFF_name;
#define FSLOT(f, off) (*(PyObject **)((char *)(f) + (off)))

/* State type codes (types.StateType). */
enum { ST_STRING = 9, ST_TABLE = 10, ST_BOOL = 25 };

/* Paths kept out of line, so that the hot paths they leave are small leaf functions: the
 * general ones (OUTLINE), and those only errors and unusual arguments take (COLD). */
#if defined(__GNUC__)
#define OUTLINE __attribute__((noinline))
#define COLD __attribute__((noinline, cold))
#else
#define OUTLINE
#define COLD
#endif

#define WAIT_SLICE_NS 50000000LL /* a waiter re-checks signals and dead holders this often */
#define FOREVER_S 1e9            /* timeouts at or above this many seconds wait for ever */
#define FREE_HANDLES 64

/* ---------------------------------------------------------------------------------------- */
/* Types                                                                                    */

typedef struct {
    PyObject_HEAD
    unsigned long owner;
    int thread_safe;
    Py_ssize_t acquisitions, contended, timeouts, errors, in_use;
    double longest_wait;
} CtDomain;

typedef struct CtHandle CtHandle;
typedef struct CtWaiter CtWaiter;

typedef struct {
    PyObject_VAR_HEAD      /* ob_size: the inline capacity */
    PyObject **values;     /* `inl`, or a PyMem array once grown */
    Py_ssize_t nvalues;
    CtHandle *holders;     /* live READ/WRITE handles, doubly linked */
    CtWaiter *waitq;       /* FIFO of waiting threads */
    Py_ssize_t state;      /* 0 free, n readers, -1 writer */
    PyObject *inl[1];
} CtEntry;

typedef struct {
    PyObject_HEAD
    /* What an acquisition reads, first (one cache line with the header): a nested step
     * touches a nested table per parent entry. */
    CtEntry *last; /* the last lookup's hit: `entries[last_key]` (borrowed: `entries` holds
                    * it), for a one-digit int key; NULL once `entries` changes (forget_last) */
    int last_key;
    unsigned char kcode;
    unsigned char retiring; /* `retired` holds entries */
    CtDomain *domain;
    PyObject *registry, *entries;
    PyObject *retired; /* key -> list of entries erased or replaced while in use; or NULL */
    PyObject *name, *key_type, *timeout;
    double timeout_s;
    int64_t timeout_ns; /* -1: for ever */
    PyObject *weakrefs;
    PyObject *exporter; /* the exporting plugin's name (a str), or NULL */
} CtCore;

enum { H_READ = 0, H_WRITE = 1, H_DETACHED = 2 };
enum { HOW_LIVE, HOW_RELEASED, HOW_ATTACHED, HOW_DESTROYED, HOW_OWNER_DIED, HOW_ABANDONED };

struct CtHandle {
    PyObject_HEAD
    vectorcallfunc vectorcall; /* handle_vectorcall: h() is __enter__, h(*exc_info) __exit__ */
    CtCore *table;
    CtEntry *entry; /* NULL once released */
    PyObject *key;
    PyObject *view;     /* NULL: the owner's rules; else handles.ApiRules (table API rules) */
    PyObject *how_text; /* NULL, or the text a stale use quotes (set by whoever ended it) */
    unsigned long tid;
    CtHandle *next, *prev; /* in entry->holders while live (READ/WRITE) */
    unsigned char mode, how;
    unsigned char lockfree; /* FAULT_OWNER_CHECK's grant: not in holders, not in `state` */
};

struct CtWaiter {
    CtWaiter *next;
    PyThread_type_lock sem;
    int write, granted;
    int overtaken; /* its grant was taken back once: the next one is not */
};

static PyTypeObject DomainType, CoreType, EntryType, HandleType, DetachedType;

static CtHandle *free_handles[FREE_HANDLES];
static int n_free_handles;

#define CORE_READY(t, fail)                                                                    \
    do {                                                                                       \
        if ((t)->entries == NULL) {                                                            \
            PyErr_SetString(PyExc_RuntimeError, "Core.__init__ was not called");               \
            fail;                                                                              \
        }                                                                                      \
    } while (0)

/* ---------------------------------------------------------------------------------------- */
/* Small helpers                                                                            */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* This thread's id, PyThread_get_thread_ident()'s value: on POSIX that is pthread_self(), read
 * here without the wrapper's call (seven thread checks per parse step). */
static inline unsigned long my_tid(void)
{
#ifndef _WIN32
    return (unsigned long)pthread_self();
#else
    return PyThread_get_thread_ident();
#endif
}

/* The value of an int (or int subclass, e.g. a StateType) that fits in one digit, read inline:
 * 1 and *v set, or 0 if it is larger (then use the C API). */
static inline int small_int(PyObject *o, long *v)
{
#if PY_VERSION_HEX >= 0x030C0000
    if (!PyUnstable_Long_IsCompact((PyLongObject *)o))
        return 0;
    *v = (long)PyUnstable_Long_CompactValue((PyLongObject *)o);
#else
    Py_ssize_t n = Py_SIZE(o);
    if (n < -1 || n > 1)
        return 0;
    *v = (long)n * (long)((PyLongObject *)o)->ob_digit[0]; /* 0 for 0, whatever its digit */
#endif
    return 1;
}

/* Call exc_type(*args) and raise the result. Always returns NULL. */
static PyObject *raise_with(PyObject *exc_type, const char *fmt, ...)
{
    va_list va;
    va_start(va, fmt);
    PyObject *args = Py_VaBuildValue(fmt, va);
    va_end(va);
    if (args == NULL)
        return NULL;
    PyObject *exc = PyObject_Call(exc_type, args, NULL);
    Py_DECREF(args);
    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return NULL;
}

/* concurrent_tables' wrong_thread_error(what, owner, caller), raised. Returns NULL. */
static PyObject *raise_wrong_thread(PyObject *what, unsigned long owner, unsigned long caller)
{
    PyObject *mod = PyImport_ImportModule("concurrent_tables.roles");
    if (mod == NULL) {
        PyErr_Clear();
        mod = PyImport_ImportModule("concurrent_tables.access");
        if (mod == NULL)
            return NULL;
    }
    PyObject *fn = PyObject_GetAttrString(mod, "wrong_thread_error");
    Py_DECREF(mod);
    if (fn == NULL)
        return NULL;
    PyObject *exc = PyObject_CallFunction(fn, "Okk", what, owner, caller);
    Py_DECREF(fn);
    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return NULL;
}

/* A thread with id `tid` is running Python code: one of its thread states has a frame (what
 * sys._current_frames lists). A thread state without one is not enough: a native thread that
 * called into Python can leave one behind when it exits, and a thread started later may get
 * the same id, making an exited holder look alive for ever. Read without allocating or
 * running Python code (callers walk holder lists). */
static int thread_alive(unsigned long tid)
{
    PyInterpreterState *interp = PyInterpreterState_Get();
    for (PyThreadState *ts = PyInterpreterState_ThreadHead(interp); ts; ts = PyThreadState_Next(ts)) {
#if PY_VERSION_HEX >= 0x030D0000
        int running = ts->current_frame != NULL;
#else
        int running = ts->cframe != NULL && ts->cframe->current_frame != NULL;
#endif
        if (ts->thread_id == tid && running)
            return 1;
    }
    return 0;
}

/* Parse a timeout as locking.domains.checked_timeout does: None, or seconds >= 0 (an int or a
 * float, not a bool; inf and huge values wait for ever); else InvalidTimeoutError. */
static int parse_timeout(PyObject *table_name, PyObject *o, int64_t *ns, double *secs)
{
    double d = -1.0;
    if (o == Py_None) {
        *ns = -1;
        *secs = INFINITY;
        return 0;
    }
    if (PyFloat_Check(o))
        d = PyFloat_AS_DOUBLE(o);
    else if (PyLong_Check(o) && !PyBool_Check(o)) {
        int ovf;
        long long v = PyLong_AsLongLongAndOverflow(o, &ovf);
        if (v == -1 && PyErr_Occurred())
            return -1;
        d = ovf > 0 ? INFINITY : ovf < 0 ? -1.0 : (double)v;
    }
    if (!(d >= 0)) { /* negative, NaN, or not a number */
        raise_with(E_InvalidTimeout, "(OO)", table_name, o);
        return -1;
    }
    *secs = d;
    *ns = d >= FOREVER_S ? -1 : (int64_t)(d * 1e9);
    return 0;
}

/* Whether `o` is TABLE_TIMEOUT, "the table's own timeout" (-1 on error). */
static int is_table_timeout(PyObject *o)
{
    if (g_table_timeout == NULL) {
        PyObject *mod = PyImport_ImportModule("concurrent_tables.table");
        if (mod == NULL)
            return -1;
        g_table_timeout = PyObject_GetAttrString(mod, "TABLE_TIMEOUT");
        Py_DECREF(mod);
        if (g_table_timeout == NULL)
            return -1;
    }
    return o == g_table_timeout;
}

/* ---------------------------------------------------------------------------------------- */
/* Domain                                                                                   */

static PyObject *domain_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"thread_safe", "owner", NULL};
    int thread_safe;
    PyObject *owner = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "p|O:Domain", kwlist, &thread_safe, &owner))
        return NULL;
    unsigned long tid = PyThread_get_thread_ident();
    if (owner != Py_None) {
        tid = PyLong_AsUnsignedLong(owner);
        if (tid == (unsigned long)-1 && PyErr_Occurred())
            return NULL;
    }
    CtDomain *d = (CtDomain *)type->tp_alloc(type, 0);
    if (d == NULL)
        return NULL;
    d->owner = tid;
    d->thread_safe = thread_safe;
    return (PyObject *)d;
}

static PyObject *domain_statistics(CtDomain *d, PyObject *Py_UNUSED(ignored))
{
    return Py_BuildValue("(Nnndnnn)", PyBool_FromLong(d->thread_safe), d->acquisitions,
                         d->contended, d->longest_wait, d->timeouts, d->errors, d->in_use);
}

static PyObject *domain_get_owner(CtDomain *d, void *Py_UNUSED(c))
{
    return PyLong_FromUnsignedLong(d->owner);
}

static PyObject *domain_get_thread_safe(CtDomain *d, void *Py_UNUSED(c))
{
    return PyBool_FromLong(d->thread_safe);
}

static PyMethodDef domain_methods[] = {
    {"statistics", (PyCFunction)domain_statistics, METH_NOARGS,
     "(thread_safe, acquisitions, contended, longest_wait_s, timeouts, errors, locks_in_use)"},
    {NULL, NULL, 0, NULL},
};

static PyObject *domain_get_fast_tid(CtDomain *Py_UNUSED(d), void *Py_UNUSED(c))
{
    return PyLong_FromLong(0);
}

static PyGetSetDef domain_getset[] = {
    {"fast_tid", (getter)domain_get_fast_tid, NULL,
     "0: no thread takes lock-free borrows (every handle is a grant of the entry's state)", NULL},
    {"owner", (getter)domain_get_owner, NULL, "the owner thread's id", NULL},
    {"thread_safe", (getter)domain_get_thread_safe, NULL, "any thread may use the tables", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject DomainType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "concurrent_tables._core.Domain",
    .tp_basicsize = sizeof(CtDomain),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Domain(thread_safe, owner=None): the lock domain of a table family.",
    .tp_new = domain_new,
    .tp_methods = domain_methods,
    .tp_getset = domain_getset,
};

/* ---------------------------------------------------------------------------------------- */
/* Entry                                                                                    */

static CtEntry *entry_from_list(PyObject *list)
{
    Py_ssize_t n = PyList_GET_SIZE(list);
    CtEntry *e = PyObject_GC_NewVar(CtEntry, &EntryType, n > 0 ? n : 1);
    if (e == NULL)
        return NULL;
    e->values = e->inl;
    e->nvalues = n;
    e->holders = NULL;
    e->waitq = NULL;
    e->state = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        e->values[i] = Py_NewRef(PyList_GET_ITEM(list, i));
    PyObject_GC_Track(e);
    return e;
}

static int entry_traverse(CtEntry *e, visitproc visit, void *arg)
{
    for (Py_ssize_t i = 0; i < e->nvalues; i++)
        Py_VISIT(e->values[i]);
    return 0;
}

static int entry_clear(CtEntry *e)
{
    Py_ssize_t n = e->nvalues;
    e->nvalues = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        Py_CLEAR(e->values[i]);
    return 0;
}

static void entry_dealloc(CtEntry *e)
{
    PyObject_GC_UnTrack(e);
    entry_clear(e);
    if (e->values != e->inl)
        PyMem_Free(e->values);
    PyObject_GC_Del(e);
}

/* Grow an entry to `size` slots, filling the new ones from `defaults`. */
static int entry_grow(CtEntry *e, PyObject *defaults, Py_ssize_t size)
{
    Py_ssize_t n = e->nvalues;
    if (!PyList_Check(defaults) || PyList_GET_SIZE(defaults) != size - n) {
        PyErr_SetString(PyExc_RuntimeError, "dynamic_defaults returned the wrong slots");
        return -1;
    }
    PyObject **vals = e->values;
    if (size > Py_SIZE(e)) {
        vals = PyMem_New(PyObject *, size);
        if (vals == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memcpy(vals, e->values, n * sizeof(PyObject *));
        if (e->values != e->inl)
            PyMem_Free(e->values);
        e->values = vals;
        Py_SET_SIZE(e, size);
    }
    for (Py_ssize_t i = n; i < size; i++)
        vals[i] = Py_NewRef(PyList_GET_ITEM(defaults, i - n));
    e->nvalues = size;
    return 0;
}

/* An entry reads as a sequence of its values, as the Python backend's value list does: the C
 * bridge's pins index it (past the end: IndexError, a dynamic field never stored) and grow it. */
static Py_ssize_t entry_len(CtEntry *e) { return e->nvalues; }

static PyObject *entry_item(CtEntry *e, Py_ssize_t i)
{
    if (i < 0 || i >= e->nvalues) {
        PyErr_SetString(PyExc_IndexError, "entry slot out of range");
        return NULL;
    }
    return Py_NewRef(e->values[i]);
}

static int entry_ass_item(CtEntry *e, Py_ssize_t i, PyObject *v)
{
    if (v == NULL) {
        PyErr_SetString(PyExc_TypeError, "entry slots cannot be deleted");
        return -1;
    }
    if (i < 0 || i >= e->nvalues) {
        PyErr_SetString(PyExc_IndexError, "entry slot out of range");
        return -1;
    }
    PyObject *old = e->values[i];
    e->values[i] = Py_NewRef(v);
    Py_DECREF(old);
    return 0;
}

static PyObject *entry_extend(CtEntry *e, PyObject *values)
{
    PyObject *list = PySequence_List(values);
    if (list == NULL)
        return NULL;
    int r = entry_grow(e, list, e->nvalues + PyList_GET_SIZE(list));
    Py_DECREF(list);
    if (r < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PySequenceMethods entry_as_sequence = {
    .sq_length = (lenfunc)entry_len,
    .sq_item = (ssizeargfunc)entry_item,
    .sq_ass_item = (ssizeobjargproc)entry_ass_item,
};

static PyMethodDef entry_methods[] = {
    {"extend", (PyCFunction)entry_extend, METH_O, "Append values (dynamic field slots)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject EntryType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "concurrent_tables._core.Entry",
    .tp_basicsize = offsetof(CtEntry, inl),
    .tp_itemsize = sizeof(PyObject *),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "One entry's values and reader/writer state (internal).",
    .tp_dealloc = (destructor)entry_dealloc,
    .tp_traverse = (traverseproc)entry_traverse,
    .tp_clear = (inquiry)entry_clear,
    .tp_as_sequence = &entry_as_sequence,
    .tp_methods = entry_methods,
};

/* ---------------------------------------------------------------------------------------- */
/* Entry state transitions (GIL held; no Python code runs inside them)                      */

static int entry_busy(CtEntry *e) { return e->state != 0 || e->waitq != NULL; }

static void busy_changed(CtDomain *d, int was, CtEntry *e)
{
    d->in_use += entry_busy(e) - was;
}

/* Grant queued waiters in FIFO order: the head writer if free, else the readers at the head.
 * A granted waiter stays queued until it runs again and claims its grant. */
static void grant_waiters(CtEntry *e)
{
    for (CtWaiter *w = e->waitq; w != NULL; w = w->next) {
        if (w->granted)
            continue;
        if (w->write ? e->state != 0 : e->state < 0)
            break;
        e->state = w->write ? -1 : e->state + 1;
        w->granted = 1;
        PyThread_release_lock(w->sem);
        if (w->write)
            break;
    }
}

/* Take back the grants of waiters that have not run since (only when no handle is live), unless
 * one of them was overtaken before: 1 if taken back, 0 if not. */
static int revoke_grants(CtEntry *e)
{
    for (CtWaiter *w = e->waitq; w != NULL; w = w->next)
        if (w->granted && w->overtaken)
            return 0;
    for (CtWaiter *w = e->waitq; w != NULL; w = w->next)
        if (w->granted) {
            w->granted = 0;
            w->overtaken = 1;
        }
    e->state = 0;
    return 1;
}

static void entry_ungrant(CtDomain *d, CtEntry *e, int write)
{
    int was = entry_busy(e);
    e->state = write ? 0 : e->state - 1;
    if (e->waitq != NULL)
        grant_waiters(e);
    busy_changed(d, was, e);
}

static void holder_link(CtEntry *e, CtHandle *h)
{
    h->prev = NULL;
    h->next = e->holders;
    if (e->holders)
        e->holders->prev = h;
    e->holders = h;
}

static void holder_unlink(CtEntry *e, CtHandle *h)
{
    if (h->prev)
        h->prev->next = h->next;
    else
        e->holders = h->next;
    if (h->next)
        h->next->prev = h->prev;
    h->next = h->prev = NULL;
}

static CtHandle *find_holder(CtEntry *e, unsigned long tid)
{
    for (CtHandle *h = e->holders; h; h = h->next)
        if (h->tid == tid)
            return h;
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Retired entries: conflicts are per key                                                   */
/*
 * A thread's own handles conflict per key, as in the Python core: a handle on an entry since
 * erased or replaced at its key still refuses, in the same thread, a conflicting handle on the
 * key's new entry, and the erase or clear of that key. So an entry displaced while it has
 * holders or waiters is kept in `retired[key]` until it is idle again.
 */

/* Keep `e`, displaced from `key`, while it is in use. 0, or -1 on error. */
static int retire(CtCore *t, PyObject *key, CtEntry *e)
{
    if (!entry_busy(e))
        return 0;
    if (t->retired == NULL && (t->retired = PyDict_New()) == NULL)
        return -1;
    PyObject *list = PyDict_GetItemWithError(t->retired, key);
    if (list == NULL) {
        if (PyErr_Occurred() || (list = PyList_New(0)) == NULL)
            return -1;
        int r = PyDict_SetItem(t->retired, key, list);
        Py_DECREF(list);
        if (r < 0)
            return -1;
    }
    if (PyList_Append(list, (PyObject *)e) < 0)
        return -1;
    t->retiring = 1;
    return 0;
}

/* Forget `e` among the retired entries of `key` once it is idle (errors are cleared: the entry
 * is then only kept a little longer). */
static void retire_prune(CtCore *t, PyObject *key, CtEntry *e)
{
    if (t->retired == NULL || entry_busy(e))
        return;
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    PyObject *list = PyDict_GetItemWithError(t->retired, key);
    if (list != NULL) {
        Py_INCREF(list);
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++)
            if (PyList_GET_ITEM(list, i) == (PyObject *)e) {
                PySequence_DelItem(list, i);
                break;
            }
        if (PyList_GET_SIZE(list) == 0)
            PyDict_DelItem(t->retired, key);
        Py_DECREF(list);
    }
    t->retiring = PyDict_GET_SIZE(t->retired) > 0;
    PyErr_Clear();
    PyErr_Restore(et, ev, tb);
}

/* This thread's handle on the entry at `key` or on a retired one there (a write one first). */
static CtHandle *find_mine(CtCore *t, PyObject *key, CtEntry *current, unsigned long me)
{
    CtHandle *found = current != NULL ? find_holder(current, me) : NULL;
    if (!t->retiring || (found != NULL && found->mode == H_WRITE))
        return found;
    PyObject *list = PyDict_GetItemWithError(t->retired, key);
    if (list == NULL) {
        PyErr_Clear();
        return found;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
        CtHandle *h = find_holder((CtEntry *)PyList_GET_ITEM(list, i), me);
        if (h != NULL && (found == NULL || h->mode == H_WRITE))
            found = h;
    }
    return found;
}

/* ---------------------------------------------------------------------------------------- */
/* Core: keys, errors                                                                       */

static PyObject *key_type_name(CtCore *t)
{
    return PyObject_GetAttrString(t->key_type, "type_name");
}

/* The integer types' ranges, by StateType code (1..8). */
static const long long INT_LO[9] = {0, INT8_MIN, INT16_MIN, INT32_MIN, INT64_MIN, 0, 0, 0, 0};
static const unsigned long long INT_HI[9] = {0,         INT8_MAX,  INT16_MAX,
                                             INT32_MAX, INT64_MAX, UINT8_MAX,
                                             UINT16_MAX, UINT32_MAX, UINT64_MAX};

static int int_range(int code, long long *lo, unsigned long long *hi)
{
    if (code < 1 || code > 8)
        return 0;
    *lo = INT_LO[code];
    *hi = INT_HI[code];
    return 1;
}

/* Whether the small int `x` (see small_int) lies in the range of integer type `code`. */
static inline int small_fits(long code, long x)
{
    return code >= 1 && code <= 8 && x >= INT_LO[code] &&
           (x < 0 || (unsigned long long)x <= INT_HI[code]);
}

/* 1 if the int `v` lies in the range of integer type `code`, 0 if not (or not an integer
 * type), -1 on error. */
static int int_fits(int code, PyObject *v)
{
    long long lo;
    unsigned long long hi;
    if (!int_range(code, &lo, &hi))
        return 0;
    long small;
    if (small_int(v, &small))
        return small_fits(code, small);
    int ovf;
    long long x = PyLong_AsLongLongAndOverflow(v, &ovf);
    if (x == -1 && PyErr_Occurred())
        return -1;
    if (ovf < 0)
        return 0;
    if (ovf == 0)
        return x >= lo && (x < 0 || (unsigned long long)x <= hi);
    if (hi != UINT64_MAX)
        return 0;
    unsigned long long u = PyLong_AsUnsignedLongLong(v);
    if (u == (unsigned long long)-1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError))
            return -1;
        PyErr_Clear();
        return 0;
    }
    return 1;
}

static PyObject *invalid_key(CtCore *t, PyObject *key, PyObject *why)
{
    if (why == NULL)
        return NULL;
    PyObject *tn = key_type_name(t);
    if (tn != NULL)
        raise_with(E_InvalidKey, "(OOOO)", t->name, key, tn, why);
    Py_XDECREF(tn);
    Py_DECREF(why);
    return NULL;
}

/* Raise InvalidKeyError unless `key` fits the key type (as Table.check_key). */
static int check_key(CtCore *t, PyObject *key)
{
    int code = t->kcode;
    const char *want;
    if (code == ST_STRING) {
        if (PyUnicode_CheckExact(key)) {
            if (PyUnicode_FindChar(key, 0, 0, PyUnicode_GET_LENGTH(key), 1) == -1)
                return 0;
            invalid_key(t, key, PyUnicode_FromString("string contains a NUL byte"));
            return -1;
        }
        want = "str";
    }
    else if (code == ST_BOOL) {
        if (PyBool_Check(key))
            return 0;
        want = "bool";
    }
    else {
        if (PyLong_Check(key) && !PyBool_Check(key)) {
            int r = int_fits(code, key);
            if (r > 0)
                return 0;
            if (r < 0)
                return -1;
            invalid_key(t, key, PyUnicode_FromFormat("out of range [%lld, %llu]", INT_LO[code],
                                                     INT_HI[code]));
            return -1;
        }
        want = "int";
    }
    invalid_key(t, key, PyUnicode_FromFormat("expected %s, got %s", want, Py_TYPE(key)->tp_name));
    return -1;
}

static PyObject *conflict_error(CtCore *t, PyObject *key, int held_write, int want_write)
{
    CtDomain *d = t->domain;
    d->errors++;
    return raise_with(d->thread_safe ? E_Reentrancy : E_Borrow, "(OON)", t->name, key,
                      PyUnicode_FromFormat("this thread already holds %s; a %s handle would %s",
                                           held_write ? "a write handle" : "a read handle",
                                           want_write ? "write" : "read",
                                           d->thread_safe ? "deadlock" : "conflict"));
}

static PyObject *table_what(CtCore *t)
{
    return PyUnicode_FromFormat("table '%U'", t->name);
}

/* The exporter check's slow path: this thread has a role; refuse it unless its plugin
 * exported the table (the error is built by table.check_exporter, as on the Python core). */
static int check_role_slow(CtCore *t)
{
    int same = t_role == t->exporter || PyUnicode_Compare(t_role, t->exporter) == 0;
    if (same || PyErr_Occurred())
        return same ? 0 : -1;
    if (g_check_exporter == NULL) {
        PyObject *mod = PyImport_ImportModule("concurrent_tables.table");
        if (mod == NULL)
            return -1;
        g_check_exporter = PyObject_GetAttrString(mod, "check_exporter");
        Py_DECREF(mod);
        if (g_check_exporter == NULL)
            return -1;
    }
    PyObject *r = PyObject_CallOneArg(g_check_exporter, (PyObject *)t);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

/* The exporter check (see the top of the file): 0, or -1 with ThreadAccessDeniedError. */
#define CHECK_ROLE(t) \
    (g_roles == 0 || (t)->exporter == NULL || t_role == NULL ? 0 : check_role_slow(t))

/* The confined domain's thread check, then the exporter check. */
static int check_thread(CtCore *t)
{
    CtDomain *d = t->domain;
    unsigned long me;
    if (d->thread_safe || (me = PyThread_get_thread_ident()) == d->owner)
        return CHECK_ROLE(t);
    PyObject *what = table_what(t);
    if (what != NULL) {
        raise_wrong_thread(what, d->owner, me);
        Py_DECREF(what);
    }
    return -1;
}

static int call_tracer(PyObject *event, CtCore *t, PyObject *key, int write)
{
    PyObject *tr = Py_NewRef(g_tracer);
    PyObject *r = PyObject_CallFunction(tr, "OOOOO", event, (PyObject *)t->domain, (PyObject *)t,
                                        key, write ? Py_True : Py_False);
    Py_DECREF(tr);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* probe(event, table, key, write, handle or None, wait_ns): 0, or -1 with its exception. */
static int call_probe(PyObject *event, CtCore *t, PyObject *key, int write, CtHandle *h,
                      int64_t wait_ns)
{
    PyObject *pr = Py_NewRef(g_probe);
    PyObject *r = PyObject_CallFunction(pr, "OOOOOL", event, (PyObject *)t, key,
                                        write ? Py_True : Py_False,
                                        h != NULL ? (PyObject *)h : Py_None, (long long)wait_ns);
    Py_DECREF(pr);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Handles                                                                                  */

static PyObject *handle_vectorcall(CtHandle *h, PyObject *const *args, size_t nargsf,
                                   PyObject *kwnames);

static inline CtHandle *handle_alloc(PyTypeObject *type)
{
    CtHandle *h;
    if (type == &HandleType && n_free_handles > 0) {
        h = free_handles[--n_free_handles];
        PyObject_Init((PyObject *)h, type);
    }
    else {
        h = PyObject_GC_New(CtHandle, type);
        if (h == NULL)
            return NULL;
    }
    h->table = NULL;
    h->entry = NULL;
    h->key = NULL;
    h->view = NULL;
    h->how_text = NULL;
    h->next = h->prev = NULL;
    h->how = HOW_LIVE;
    h->lockfree = 0;
    h->vectorcall = (vectorcallfunc)handle_vectorcall;
    return h;
}

static const char *how_text(int how)
{
    switch (how) {
    case HOW_ATTACHED: return "attached";
    case HOW_DESTROYED: return "destroyed";
    case HOW_OWNER_DIED: return "released (its thread exited while holding it)";
    case HOW_ABANDONED: return "released (abandoned)";
    default: return "released";
    }
}

/* Raise for a handle used while dead, or from another thread. Returns NULL. */
COLD static PyObject *handle_misuse(CtHandle *h, unsigned long me)
{
    if (h->how != HOW_LIVE && h->how_text != NULL)
        return raise_with(E_StaleHandle, "(OOO)", h->table->name, h->key, h->how_text);
    if (h->how != HOW_LIVE)
        return raise_with(E_StaleHandle, "(OOs)", h->table->name, h->key, how_text(h->how));
    PyObject *what = PyUnicode_FromFormat("handle on entry %R of table '%U'", h->key,
                                          h->table->name);
    if (what == NULL)
        return NULL;
    raise_wrong_thread(what, h->tid, me);
    Py_DECREF(what);
    return NULL;
}

#define CHECK_HANDLE(h, fail)                                                                  \
    do {                                                                                       \
        unsigned long me_ = my_tid();                                                          \
        if ((h)->how != HOW_LIVE || (h)->tid != me_) {                                         \
            handle_misuse((h), me_);                                                           \
            fail;                                                                              \
        }                                                                                      \
    } while (0)

/* End a live READ/WRITE handle's grant (any thread may call it: dealloc, recovery). */
OUTLINE static void handle_end(CtHandle *h, int how)
{
    CtEntry *e = h->entry;
    h->how = (unsigned char)how;
    if (h->lockfree)
        return; /* a planted lock-free grant (FAULT_OWNER_CHECK) was never counted */
    holder_unlink(e, h);
    entry_ungrant(h->table->domain, e, h->mode == H_WRITE);
    retire_prune(h->table, h->key, e);
}

/* Release a live handle of this thread (the tracer and the probe see it if `trace`). */
static int handle_release_live(CtHandle *h, int trace)
{
    CtCore *t = h->table;
    CtEntry *e = h->entry;
    if (!h->lockfree && e->waitq == NULL && !t->retiring) {
        /* handle_end's common case, in place: no waiter to grant, no retired entry to prune */
        h->how = HOW_RELEASED;
        holder_unlink(e, h);
        e->state = h->mode == H_WRITE ? 0 : e->state - 1;
        t->domain->in_use -= e->state == 0; /* busy (held) before; now busy only if read */
    }
    else
        handle_end(h, HOW_RELEASED);
    h->entry = NULL;
    Py_DECREF(e); /* may run Python code (the values' finalizers): the state is consistent */
    if (!trace)
        return 0;
    int write = h->mode == H_WRITE;
    if (g_tracer != NULL && t->domain->thread_safe && call_tracer(S_release, t, h->key, write) < 0)
        return -1;
    if (g_probe != NULL)
        return call_probe(S_release, t, h->key, write, h, 0);
    return 0;
}

/* Resolve `field` (a Field of this table, or a name) to a Field: a new reference. */
static PyObject *resolve_field(CtHandle *h, PyObject *field)
{
    PyObject *registry = h->table->registry;
    if (registry == NULL) { /* its table was cleared by the cyclic GC */
        PyErr_SetString(PyExc_RuntimeError, "the handle's table was garbage-collected");
        return NULL;
    }
    if (PyObject_TypeCheck(field, FieldType)) {
        PyObject *reg = FSLOT(field, OFF_registry);
        if (reg == registry)
            return Py_NewRef(field);
        if (reg == NULL || FSLOT(field, OFF_name) == NULL) {
            PyErr_SetString(PyExc_TypeError, "uninitialised Field");
            return NULL;
        }
        PyObject *tn = PyObject_GetAttrString(reg, "table_name");
        if (tn == NULL)
            return NULL;
        raise_with(E_ForeignField, "(OOO)", FSLOT(field, OFF_name), tn, h->table->name);
        Py_DECREF(tn);
        return NULL;
    }
    if (PyUnicode_Check(field)) {
        PyObject *f = PyObject_CallMethod(registry, "lookup", "O", field);
        if (f == NULL || h->view == NULL)
            return f;
        if (!PyObject_TypeCheck(f, FieldType) || FSLOT(f, OFF_private) != Py_True)
            return f;
        Py_DECREF(f);
        return PyObject_CallMethod(registry, "get", "Oi", field, 1); /* raises "undefined" */
    }
    return raise_with(E_FieldArgument, "(OO)", h->table->name, field);
}

static Py_ssize_t field_index(PyObject *f)
{
    PyObject *idx = FSLOT(f, OFF_index);
    if (idx == NULL) {
        PyErr_SetString(PyExc_TypeError, "uninitialised Field");
        return -1;
    }
    Py_ssize_t i = PyLong_AsSsize_t(idx);
    if (i < 0 && !PyErr_Occurred())
        PyErr_SetString(PyExc_ValueError, "negative field index");
    return i;
}

/* The nested table in slot i of entry e, made on first use. */
static PyObject *make_nested(CtCore *t, CtEntry *e, PyObject *f, Py_ssize_t i)
{
    Py_INCREF(e);
    PyObject *nt = PyObject_CallMethod((PyObject *)t, "_make_nested", "O", f);
    /* _make_nested ran Python code: another reader of this entry may have won the race. */
    if (nt != NULL && i < e->nvalues) {
        if (e->values[i] == Py_None) {
            e->values[i] = Py_NewRef(nt);
            Py_DECREF(Py_None);
        }
        else
            Py_SETREF(nt, Py_NewRef(e->values[i]));
    }
    Py_DECREF(e);
    return nt;
}

/* The slot of `field` if it is a Field of the handle's table (the hot path: a plugin resolves
 * its fields once), else -1: resolve_field then says what it is. */
static inline Py_ssize_t own_slot(CtHandle *h, PyObject *field)
{
    PyObject *idx;
    long i;
    if (Py_TYPE(field) == FieldType && FSLOT(field, OFF_registry) == h->table->registry &&
        (idx = FSLOT(field, OFF_index)) != NULL && small_int(idx, &i) && i >= 0)
        return i;
    return -1;
}

/* h[field] for any field argument (a name, a nested table, a dynamic field never stored). */
COLD static PyObject *getitem_slow(CtHandle *h, PyObject *field)
{
    PyObject *f;
    if (Py_TYPE(field) == FieldType && FSLOT(field, OFF_registry) == h->table->registry)
        f = Py_NewRef(field);
    else if ((f = resolve_field(h, field)) == NULL)
        return NULL;
    PyObject *r = NULL;
    Py_ssize_t i = field_index(f);
    if (i >= 0) {
        CtEntry *e = h->entry;
        if (i < e->nvalues) {
            r = e->values[i];
            PyObject *nested = FSLOT(f, OFF_nested);
            if (nested == NULL || nested == Py_None)
                Py_INCREF(r);
            else {
                r = r == Py_None ? make_nested(h->table, e, f, i) : Py_NewRef(r);
                if (r != NULL && h->view != NULL) /* an importer's view of the nested table */
                    Py_SETREF(r, PyObject_CallMethod(h->view, "nested", "O", r));
            }
        }
        else if ((r = FSLOT(f, OFF_default)) != NULL)
            Py_INCREF(r);
        else
            PyErr_SetString(PyExc_TypeError, "uninitialised Field");
    }
    Py_DECREF(f);
    return r;
}

static PyObject *handle_getitem(CtHandle *h, PyObject *field)
{
    CHECK_HANDLE(h, return NULL);
    Py_ssize_t i = own_slot(h, field);
    if (i >= 0 && i < h->entry->nvalues) {
        PyObject *nested = FSLOT(field, OFF_nested), *v = h->entry->values[i];
        /* a scalar, or the owner's view of a nested table already made */
        if (nested == NULL || nested == Py_None || (v != Py_None && h->view == NULL))
            return Py_NewRef(v);
    }
    return getitem_slow(h, field);
}

/* The full value check (types.value_problem), for what the fast check refused. */
static int check_value_slow(CtHandle *h, PyObject *f, PyObject *value)
{
    if (FSLOT(f, OFF_private) == Py_True)
        return 0;
    PyObject *type = FSLOT(f, OFF_type);
    PyObject *why = PyObject_CallFunctionObjArgs(value_problem_fn, type, value, NULL);
    if (why == NULL)
        return -1;
    if (why == Py_None) {
        Py_DECREF(why);
        return 0;
    }
    PyObject *tn = PyObject_GetAttrString(type, "type_name");
    if (tn != NULL)
        raise_with(E_InvalidValue, "(OOOOO)", h->table->name, FSLOT(f, OFF_name), value, tn, why);
    Py_XDECREF(tn);
    Py_DECREF(why);
    return -1;
}

/* A field's StateType code, read inline (0: none, a private field). */
static inline long type_code(PyObject *f)
{
    PyObject *type = FSLOT(f, OFF_type);
    long code;
    return type != NULL && type != Py_None && small_int(type, &code) ? code : 0;
}

/* Whether `value` surely passes field f's value check: the common cases, inline and without
 * errors (0 is "ask check_value", not "invalid"). */
static inline int value_fits(PyObject *f, PyObject *value)
{
    PyTypeObject *vt = Py_TYPE(value);
    long x;
    if (vt == &PyLong_Type)
        return small_int(value, &x) && small_fits(type_code(f), x);
    if (vt == &PyUnicode_Type)
        return type_code(f) == ST_STRING && PyUnicode_IS_ASCII(value) &&
               memchr(PyUnicode_DATA(value), 0, PyUnicode_GET_LENGTH(value)) == NULL;
    return vt == &PyBool_Type && type_code(f) == ST_BOOL;
}

static int check_value(CtHandle *h, PyObject *f, PyObject *value)
{
    if (value_fits(f, value))
        return 0;
    if (Py_TYPE(value) == &PyLong_Type) { /* a big int: the exact range check */
        int r = int_fits((int)type_code(f), value);
        if (r != 0)
            return r > 0 ? 0 : -1;
    }
    return check_value_slow(h, f, value);
}

static int store_value(CtHandle *h, PyObject *f, PyObject *value)
{
    Py_ssize_t i = field_index(f);
    if (i < 0)
        return -1;
    CtEntry *e = h->entry;
    if (i >= e->nvalues) { /* a dynamic field added after this entry was made */
        if (h->table->registry == NULL) {
            PyErr_SetString(PyExc_RuntimeError, "the handle's table was garbage-collected");
            return -1;
        }
        PyObject *defaults = PyObject_CallMethod(h->table->registry, "dynamic_defaults", "nn",
                                                 e->nvalues, i);
        if (defaults == NULL)
            return -1;
        int r = i >= e->nvalues ? entry_grow(e, defaults, i + 1) : 0;
        Py_DECREF(defaults);
        if (r < 0)
            return -1;
    }
    PyObject *old = e->values[i];
    e->values[i] = Py_NewRef(value);
    Py_DECREF(old);
    return 0;
}

/* h[field] = value for any field argument and value, with every check and error. */
COLD static int setitem_slow(CtHandle *h, PyObject *field, PyObject *value)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_TypeError, "entry fields cannot be deleted");
        return -1;
    }
    if (h->mode == H_READ) {
        PyObject *name = PyUnicode_Check(field) ? Py_NewRef(field)
                                                : PyObject_GetAttrString(field, "name");
        if (name != NULL && h->view == NULL)
            raise_with(E_ReadOnlyHandle, "(OOO)", h->table->name, h->key, name);
        else if (name != NULL) { /* the view says how its importer is refused */
            PyObject *exc = PyObject_CallMethod(h->view, "write_denied", "OOO", h->table->name,
                                                h->key, name);
            if (exc != NULL) {
                PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
                Py_DECREF(exc);
            }
        }
        Py_XDECREF(name);
        return -1;
    }
    PyObject *f;
    if (Py_TYPE(field) == FieldType && FSLOT(field, OFF_registry) == h->table->registry)
        f = Py_NewRef(field);
    else if ((f = resolve_field(h, field)) == NULL)
        return -1;
    int r = -1;
    PyObject *nested = FSLOT(f, OFF_nested);
    if (FSLOT(f, OFF_read_only) == Py_True && (h->view || (nested != NULL && nested != Py_None))) {
        int is_nested = nested != NULL && nested != Py_None;
        raise_with(E_ReadOnlyField, "(OOs)", h->table->name, FSLOT(f, OFF_name),
                   is_nested ? "writing to table fields is currently not supported" : NULL);
    }
    else if (check_value(h, f, value) == 0 &&
             (g_probe == NULL || h->mode != H_WRITE || /* a detached entry is nobody's yet */
              call_probe(S_store, h->table, h->key, 1, h, 0) == 0))
        r = store_value(h, f, value);
    Py_DECREF(f);
    return r;
}

static int handle_setitem(CtHandle *h, PyObject *field, PyObject *value)
{
    CHECK_HANDLE(h, return -1);
    Py_ssize_t i;
    /* The hot path: a write handle (no probe to call) or a detached entry, a scalar field of
     * its table stored in this entry, writable through this handle, a value that surely fits. */
    if (h->mode != H_READ && value != NULL && (g_probe == NULL || h->mode == H_DETACHED) &&
        (i = own_slot(h, field)) >= 0 && i < h->entry->nvalues &&
        FSLOT(field, OFF_nested) == Py_None &&
        (h->view == NULL || FSLOT(field, OFF_read_only) != Py_True) &&
        (FSLOT(field, OFF_private) == Py_True || value_fits(field, value))) {
        PyObject *old = h->entry->values[i];
        h->entry->values[i] = Py_NewRef(value);
        Py_DECREF(old);
        return 0;
    }
    return setitem_slow(h, field, value);
}

static PyObject *handle_get(CtHandle *h, PyObject *field) { return handle_getitem(h, field); }

static PyObject *handle_set(CtHandle *h, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "set() takes 2 arguments (%zd given)", nargs);
        return NULL;
    }
    if (handle_setitem(h, args[0], args[1]) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *handle_release(CtHandle *h, PyObject *Py_UNUSED(ignored))
{
    if (h->mode == H_DETACHED || h->how != HOW_LIVE)
        Py_RETURN_NONE; /* releasing twice is a no-op; a detached entry holds no lock */
    unsigned long me = my_tid();
    if (h->tid != me)
        return handle_misuse(h, me);
    if (handle_release_live(h, 1) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *handle_destroy(CtHandle *h, PyObject *Py_UNUSED(ignored))
{
    unsigned long me = PyThread_get_thread_ident();
    if (h->how == HOW_LIVE && h->tid != me)
        return handle_misuse(h, me);
    h->how = HOW_DESTROYED;
    CtEntry *e = h->entry;
    h->entry = NULL;
    Py_XDECREF(e);
    Py_RETURN_NONE;
}

/* End the scope with `how` as the text a stale use quotes (a detached entry: discarded). */
static PyObject *handle_end_as(CtHandle *h, PyObject *how)
{
    if (!PyUnicode_Check(how)) {
        PyErr_SetString(PyExc_TypeError, "_end(how): how must be a str");
        return NULL;
    }
    if (h->mode == H_DETACHED) {
        PyObject *r = handle_destroy(h, NULL);
        if (r == NULL)
            return NULL;
        Py_DECREF(r);
    }
    else if (h->how == HOW_LIVE) {
        PyObject *r = handle_release(h, NULL);
        if (r == NULL)
            return NULL;
        Py_DECREF(r);
    }
    Py_XSETREF(h->how_text, Py_NewRef(how));
    Py_RETURN_NONE;
}

static PyObject *handle_repr(CtHandle *h)
{
    if (h->how != HOW_LIVE && h->how_text != NULL)
        return h->mode == H_DETACHED
                   ? PyUnicode_FromFormat("<detached entry of %U (%U)>", h->table->name,
                                          h->how_text)
                   : PyUnicode_FromFormat("<%s handle on %U[%R] (%U)>",
                                          h->mode == H_WRITE ? "write" : "read", h->table->name,
                                          h->key, h->how_text);
    const char *how = h->how == HOW_LIVE ? "" : how_text(h->how);
    const char *sep = h->how == HOW_LIVE ? "" : " (";
    const char *end = h->how == HOW_LIVE ? "" : ")";
    if (h->mode == H_DETACHED)
        return PyUnicode_FromFormat("<detached entry of %U%s%s%s>", h->table->name, sep, how,
                                    end);
    return PyUnicode_FromFormat("<%s handle on %U[%R]%s%s%s>", h->mode == H_WRITE ? "write" : "read",
                                h->table->name, h->key, sep, how, end);
}

static int handle_traverse(CtHandle *h, visitproc visit, void *arg)
{
    Py_VISIT(h->table);
    Py_VISIT(h->entry);
    Py_VISIT(h->key);
    Py_VISIT(h->view);
    Py_VISIT(h->how_text);
    return 0;
}

/* A handle deallocated while it still holds its entry: release it, and say so. */
static void handle_abandoned(CtHandle *h)
{
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    handle_end(h, HOW_ABANDONED);
    if (PyErr_ResourceWarning((PyObject *)h, 1,
                              "abandoned %s handle on entry %R of table '%U' released by "
                              "garbage collection (use it in a with block, or call release())",
                              h->mode == H_WRITE ? "write" : "read", h->key,
                              h->table->name) < 0)
        PyErr_WriteUnraisable((PyObject *)h);
    PyErr_Restore(et, ev, tb);
}

static void handle_dealloc(CtHandle *h)
{
    PyObject_GC_UnTrack(h);
    if (h->how == HOW_LIVE && h->mode != H_DETACHED && h->entry != NULL) {
        Py_SET_REFCNT(h, 1); /* resurrect for the warning, which may keep a reference */
        handle_abandoned(h);
        Py_SET_REFCNT(h, Py_REFCNT(h) - 1);
        if (Py_REFCNT(h) > 0) { /* kept by a warnings recorder: live on, released */
            PyObject_GC_Track(h);
            return;
        }
    }
    Py_CLEAR(h->entry);
    Py_CLEAR(h->key);
    Py_CLEAR(h->view);
    Py_CLEAR(h->how_text);
    Py_CLEAR(h->table);
    if (Py_TYPE(h) == &HandleType && n_free_handles < FREE_HANDLES)
        free_handles[n_free_handles++] = h;
    else
        PyObject_GC_Del(h);
}

static PyObject *handle_get_key(CtHandle *h, void *Py_UNUSED(c)) { return Py_NewRef(h->key); }

static PyObject *handle_get_table(CtHandle *h, void *Py_UNUSED(c))
{
    return Py_NewRef(h->table);
}

static PyObject *handle_get_alive(CtHandle *h, void *Py_UNUSED(c))
{
    return PyBool_FromLong(h->how == HOW_LIVE);
}

static PyObject *handle_get_write(CtHandle *h, void *Py_UNUSED(c))
{
    return PyBool_FromLong(h->mode != H_READ);
}

static PyObject *handle_get_view(CtHandle *h, void *Py_UNUSED(c))
{
    return Py_NewRef(h->view != NULL ? h->view : Py_None);
}

/* `_view` is set by handles.apply_view: an importer's view on a handle just taken. */
static int handle_set_view(CtHandle *h, PyObject *v, void *Py_UNUSED(c))
{
    if (v == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete _view");
        return -1;
    }
    Py_XSETREF(h->view, v == Py_None ? NULL : Py_NewRef(v));
    return 0;
}

/* `_grant` holds the text a stale use quotes once set (CallbackScope.end sets it). */
static PyObject *handle_get_grant(CtHandle *h, void *Py_UNUSED(c))
{
    return Py_NewRef(h->how_text != NULL ? h->how_text : Py_None);
}

static int handle_set_grant(CtHandle *h, PyObject *v, void *Py_UNUSED(c))
{
    if (v == NULL || !PyUnicode_Check(v)) {
        PyErr_SetString(PyExc_TypeError, "_grant: the text of how the handle ended");
        return -1;
    }
    Py_XSETREF(h->how_text, Py_NewRef(v));
    return 0;
}

/* The entry's storage (a sequence of its values), for the C bridge's pins. */
static PyObject *handle_get_values(CtHandle *h, void *Py_UNUSED(c))
{
    return Py_NewRef(h->entry != NULL ? (PyObject *)h->entry : Py_None);
}

static PyObject *handle_get_how(CtHandle *h, void *Py_UNUSED(c))
{
    if (h->how == HOW_LIVE)
        Py_RETURN_NONE;
    return PyUnicode_FromString(how_text(h->how));
}

static PyObject *handle_get_tid(CtHandle *h, void *Py_UNUSED(c))
{
    return PyLong_FromUnsignedLong(h->tid);
}

static PyMappingMethods handle_as_mapping = {
    .mp_subscript = (binaryfunc)handle_getitem,
    .mp_ass_subscript = (objobjargproc)handle_setitem,
};

#define HANDLE_COMMON_METHODS                                                                  \
    {"get", (PyCFunction)handle_get, METH_O, "h.get(field) == h[field]"},                      \
    {"set", (PyCFunction)(void (*)(void))handle_set, METH_FASTCALL,                            \
     "h.set(field, value): h[field] = value"},                                                 \
    {"release", (PyCFunction)handle_release, METH_NOARGS,                                      \
     "End the handle's scope and release its entry. Releasing twice is a no-op."},             \
    {"_end", (PyCFunction)handle_end_as, METH_O, "End the scope; `how` is what a stale use quotes"},

static PyMethodDef handle_methods[] = {
    HANDLE_COMMON_METHODS{NULL, NULL, 0, NULL},
};

static PyMethodDef detached_methods[] = {
    {"destroy", (PyCFunction)handle_destroy, METH_NOARGS,
     "Discard the entry. Destroying twice is a no-op."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef handle_getset[] = {
    {"key", (getter)handle_get_key, NULL, "the entry's key (None for a detached entry)", NULL},
    {"table", (getter)handle_get_table, NULL, "the table", NULL},
    {"alive", (getter)handle_get_alive, NULL, "False once the scope has ended", NULL},
    {"write", (getter)handle_get_write, NULL, "True for write handles and detached entries", NULL},
    {"view", (getter)handle_get_view, NULL, "None for the owner, else the API rules applied", NULL},
    {"_view", (getter)handle_get_view, (setter)handle_set_view, "see handles.apply_view", NULL},
    {"_grant", (getter)handle_get_grant, (setter)handle_set_grant, "how it ended (text)", NULL},
    {"_values", (getter)handle_get_values, NULL, "the entry's storage (C bridge pins)", NULL},
    {"ended", (getter)handle_get_how, NULL, "how the scope ended, or None while alive", NULL},
    {"thread", (getter)handle_get_tid, NULL, "the id of the thread that may use it", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject HandleType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "concurrent_tables._core.Handle",
    .tp_basicsize = sizeof(CtHandle),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(CtHandle, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_doc = "A read or write handle on one entry: scoped, confined to its thread.",
    .tp_dealloc = (destructor)handle_dealloc,
    .tp_traverse = (traverseproc)handle_traverse,
    .tp_repr = (reprfunc)handle_repr,
    .tp_as_mapping = &handle_as_mapping,
    .tp_methods = handle_methods,
    .tp_getset = handle_getset,
};

static PyTypeObject DetachedType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "concurrent_tables._core.DetachedEntry",
    .tp_basicsize = sizeof(CtHandle),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(CtHandle, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_doc = "A new entry not yet in a table: writable, unshared, no lock.",
    .tp_dealloc = (destructor)handle_dealloc,
    .tp_traverse = (traverseproc)handle_traverse,
    .tp_repr = (reprfunc)handle_repr,
    .tp_as_mapping = &handle_as_mapping,
    .tp_methods = detached_methods,
    .tp_base = &HandleType,
};

/* ---------------------------------------------------------------------------------------- */
/* The with statement: a handle is its own __enter__ and __exit__                          */
/*
 * `with t.write(k) as h:` looks up h.__enter__ and h.__exit__, and a method of the type's
 * method table would be bound into a new method object at each lookup (two allocations, GC
 * tracking and frees: a fifth of a parse step). The handle type's __enter__ and __exit__ are
 * instead WithMethod descriptors that return the handle itself, which is callable as the
 * context-manager protocol calls them: h() is __enter__() (returns h), h(exc_type, exc, tb) is
 * __exit__ (releases it, as release() does). Through the type, Handle.__enter__(h) and
 * Handle.__exit__(h, exc_type, exc, tb) work as unbound methods do (contextlib.ExitStack).
 */

typedef struct {
    PyObject_HEAD
    int exit; /* 0: __enter__, 1: __exit__ */
} CtWithMethod;

static PyTypeObject WithMethodType;

static const char *with_name(int exit) { return exit ? "__exit__" : "__enter__"; }

/* h.__enter__() returns h; h.__exit__(exc_type, exc, tb) releases it. */
static PyObject *with_call(CtHandle *h, int exit, Py_ssize_t nargs, PyObject *kwnames)
{
    if (kwnames != NULL && PyTuple_GET_SIZE(kwnames) > 0) {
        PyErr_Format(PyExc_TypeError, "%s() takes no keyword arguments", with_name(exit));
        return NULL;
    }
    if (nargs != (exit ? 3 : 0)) {
        PyErr_Format(PyExc_TypeError, "%s() takes %d arguments (%zd given)", with_name(exit),
                     exit ? 3 : 0, nargs);
        return NULL;
    }
    return exit ? handle_release(h, NULL) : Py_NewRef(h);
}

/* Calling a handle: h() is h.__enter__(), h(exc_type, exc, tb) is h.__exit__(...). */
static PyObject *handle_vectorcall(CtHandle *h, PyObject *const *Py_UNUSED(args), size_t nargsf,
                                   PyObject *kwnames)
{
    Py_ssize_t n = PyVectorcall_NARGS(nargsf);
    return with_call(h, n != 0, n, kwnames);
}

static PyObject *with_method_get(CtWithMethod *m, PyObject *obj, PyObject *Py_UNUSED(type))
{
    if (obj == NULL || obj == Py_None)
        return Py_NewRef(m);
    if (!PyObject_TypeCheck(obj, &HandleType)) {
        PyErr_Format(PyExc_TypeError, "descriptor '%s' for 'Handle' objects doesn't apply to a "
                     "'%s' object", with_name(m->exit), Py_TYPE(obj)->tp_name);
        return NULL;
    }
    return Py_NewRef(obj);
}

/* Handle.__enter__(h) / Handle.__exit__(h, exc_type, exc, tb), unbound. */
static PyObject *with_method_call(CtWithMethod *m, PyObject *args, PyObject *kwds)
{
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    if (n < 1 || !PyObject_TypeCheck(PyTuple_GET_ITEM(args, 0), &HandleType)) {
        PyErr_Format(PyExc_TypeError, "descriptor '%s' of 'Handle' object needs an argument",
                     with_name(m->exit));
        return NULL;
    }
    if (kwds != NULL && PyDict_GET_SIZE(kwds) > 0) {
        PyErr_Format(PyExc_TypeError, "%s() takes no keyword arguments", with_name(m->exit));
        return NULL;
    }
    return with_call((CtHandle *)PyTuple_GET_ITEM(args, 0), m->exit, n - 1, NULL);
}

static PyObject *with_method_repr(CtWithMethod *m)
{
    return PyUnicode_FromFormat("<method '%s' of 'concurrent_tables._core.Handle' objects>",
                                with_name(m->exit));
}

static PyObject *with_method_get_name(CtWithMethod *m, void *Py_UNUSED(c))
{
    return PyUnicode_FromString(with_name(m->exit));
}

static PyGetSetDef with_method_getset[] = {
    {"__name__", (getter)with_method_get_name, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject WithMethodType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "concurrent_tables._core.WithMethod",
    .tp_basicsize = sizeof(CtWithMethod),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A handle's __enter__ or __exit__: the handle itself, called as the protocol does.",
    .tp_descr_get = (descrgetfunc)with_method_get,
    .tp_call = (ternaryfunc)with_method_call,
    .tp_repr = (reprfunc)with_method_repr,
    .tp_getset = with_method_getset,
};

/* Put the WithMethod descriptors in the handle type's dict (after PyType_Ready). */
static int add_with_methods(void)
{
    for (int exit = 0; exit < 2; exit++) {
        CtWithMethod *m = PyObject_New(CtWithMethod, &WithMethodType);
        if (m == NULL)
            return -1;
        m->exit = exit;
        int r = PyDict_SetItemString(HandleType.tp_dict, with_name(exit), (PyObject *)m);
        Py_DECREF(m);
        if (r < 0)
            return -1;
    }
    PyType_Modified(&HandleType);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Core: acquisition                                                                        */

/* Grant at once if the state allows: 1 granted, 0 must wait, -1 error (conflict); 2 (only
 * under FAULT_OWNER_CHECK): granted lock-free, `state` unchanged. */
static int try_grant(CtCore *t, CtEntry *e, PyObject *key, unsigned long me, int write)
{
    if (t->retiring) {
        CtHandle *old = find_mine(t, key, NULL, me); /* on an entry once at this key */
        if (old != NULL && (old->mode == H_WRITE || write)) {
            conflict_error(t, key, old->mode == H_WRITE, write);
            return -1;
        }
    }
    if (e->holders == NULL && (e->state == 0 || revoke_grants(e))) {
        /* No live handle: the entry is free, or granted to waiters that have not run since
         * (they wait for the GIL). Taking it now keeps the running thread running instead of
         * forming a convoy behind threads that cannot run yet; those waiters are granted again
         * at its release, and claim their grant when they next run. A waiter is overtaken at
         * most once per wait: a thread that takes the entry again and again (and lets the GIL
         * go only while it holds it) would otherwise starve it. */
        int was = entry_busy(e);
        e->state = write ? -1 : 1;
        busy_changed(t->domain, was, e);
        return 1;
    }
    CtHandle *mine = find_holder(e, me);
    if (mine != NULL) {
        if (mine->mode == H_WRITE || write) {
            conflict_error(t, key, mine->mode == H_WRITE, write);
            return -1;
        }
        e->state++; /* a second read by this thread shares its first: never queues */
        return 1;
    }
    if (!write && e->state >= 0) {
        int pending = 0;
        for (CtWaiter *w = e->waitq; w != NULL && !pending; w = w->next)
            pending = !w->granted;
        if (!pending) {
            e->state++;
            return 1;
        }
    }
    if (!t->domain->thread_safe) { /* a holder of another thread: its handle crossed over */
        conflict_error(t, key, e->state < 0, write);
        return -1;
    }
    if ((g_faults & FAULT_OWNER_CHECK) && me == t->domain->owner)
        return 2; /* PLANTED: the owner does not wait for other threads (a lock-free grant) */
    return 0;
}

/* Release the handles of holders whose thread has exited: > 0 if any, -1 on error. */
static int recover_dead_holders(CtEntry *e)
{
    int n = 0;
    for (;;) {
        CtHandle *h = e->holders;
        while (h != NULL && thread_alive(h->tid))
            h = h->next;
        if (h == NULL)
            return n;
        Py_INCREF(h);
        unsigned long tid = h->tid;
        int write = h->mode == H_WRITE;
        handle_end(h, HOW_OWNER_DIED);
        CtEntry *he = h->entry;
        h->entry = NULL;
        n++;
        int r = PyErr_WarnFormat(PyExc_ResourceWarning, 1,
                                 "thread %lu exited while holding a %s handle on entry %R of "
                                 "table '%U'; the handle was released",
                                 tid, write ? "write" : "read", h->key, h->table->name);
        Py_DECREF(he);
        Py_DECREF(h);
        if (r < 0)
            return -1;
    }
}

static void waiter_dequeue(CtEntry *e, CtWaiter *w)
{
    for (CtWaiter **p = &e->waitq; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            return;
        }
}

/* FAULT_WAIT_UNDO: leave a heap copy of the failed waiter `w` queued in its place, for ever
 * (never claimed, never freed: a planted bug). 0, or -1 (no memory: the normal undo runs). */
static int waiter_strand(CtEntry *e, CtWaiter *w)
{
    CtWaiter *z = PyMem_RawMalloc(sizeof(*z));
    if (z == NULL)
        return -1;
    *z = *w;
    for (CtWaiter **p = &e->waitq; *p; p = &(*p)->next)
        if (*p == w) {
            *p = z;
            break;
        }
    return 0;
}

/* Wait until granted (1), or fail (-1: timeout, signal handler exception, warning error). */
static int wait_grant(CtCore *t, CtEntry *e, PyObject *key, int write, int64_t timeout_ns,
                      double timeout_s)
{
    CtDomain *d = t->domain;
    CtWaiter w = {NULL, PyThread_allocate_lock(), write, 0, 0};
    if (w.sem == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    PyThread_acquire_lock(w.sem, WAIT_LOCK);
    int was = entry_busy(e);
    int64_t t0 = now_ns();
    CtWaiter **p = &e->waitq;
    while (*p)
        p = &(*p)->next;
    *p = &w;
    busy_changed(d, was, e);
    int64_t deadline = timeout_ns < 0 ? -1 : t0 + timeout_ns;
    int failed = 0;
    while (!w.granted) {
        int64_t slice = WAIT_SLICE_NS;
        if (deadline >= 0) {
            int64_t left = deadline - now_ns();
            if (left <= 0) {
                d->timeouts++;
                raise_with(E_LockTimeout, "(OOsd)", t->name, key, write ? "write" : "read",
                           timeout_s);
                failed = 1;
                break;
            }
            if (left < slice)
                slice = left;
        }
        if (g_probe != NULL && call_probe(S_wait, t, key, write, NULL, now_ns() - t0) < 0) {
            failed = 1; /* as a signal handler's exception: give up the wait */
            break;
        }
        /* Granted, timed out or interrupted by a signal: the checks below tell which. */
        Py_BEGIN_ALLOW_THREADS
        PyThread_acquire_lock_timed(w.sem, (PY_TIMEOUT_T)(slice / 1000 + 1), 1);
        Py_END_ALLOW_THREADS
        if (w.granted)
            break;
        /* Every slice, not only on EINTR: a signal that came while this thread was not inside
         * the semaphore wait interrupted nothing, but its handler must run now. */
        if (PyErr_CheckSignals() < 0 || recover_dead_holders(e) < 0) {
            failed = 1;
            break;
        }
    }
    double waited = (double)(now_ns() - t0) / 1e9;
    d->contended++;
    if (waited > d->longest_wait)
        d->longest_wait = waited;
    was = entry_busy(e);
    if (failed && (g_faults & FAULT_WAIT_UNDO) && waiter_strand(e, &w) == 0) {
        busy_changed(d, was, e);
        return -1; /* PLANTED: no undo (the semaphore now belongs to the stranded copy) */
    }
    waiter_dequeue(e, &w); /* claimed, or given up */
    if (failed && w.granted)
        e->state = write ? 0 : e->state - 1; /* granted as the error came: give it back */
    if (failed)
        grant_waiters(e); /* those queued behind this waiter may go now */
    busy_changed(d, was, e);
    PyThread_free_lock(w.sem);
    return failed ? -1 : 1;
}

/* The last lookup is remembered, as libsinsp's fd table and thread manager remember theirs: a
 * parse step often looks up the key the step before did (the same fd, the same thread). Every
 * change of `entries` forgets it first, before anything can free the entry it names. */
static inline void forget_last(CtCore *t) { t->last = NULL; }

/* The entry at `key` (borrowed), or NULL (an exception set, or none: no such entry). `small`:
 * the key is a one-digit int of value kv (see small_int). */
static inline PyObject *lookup(CtCore *t, PyObject *key, int small, long kv)
{
    if (small && t->last != NULL && t->last_key == kv)
        return (PyObject *)t->last;
    PyObject *eo = PyDict_GetItemWithError(t->entries, key);
    if (eo != NULL && small) {
        t->last = (CtEntry *)eo;
        t->last_key = (int)kv; /* one digit: |kv| < 2**30 */
    }
    return eo;
}

static PyObject *entry_not_found(CtCore *t, PyObject *key)
{
    return raise_with(E_EntryNotFound, "(OO)", t->name, key);
}

/* A handle on the entry at `key`, or on `pinned` (an entry the C bridge pinned at `key`, which
 * may have been erased or replaced since: it is locked itself, not whatever is at the key). */
OUTLINE static PyObject *core_acquire(CtCore *t, PyObject *key, int write, PyObject *timeout,
                              PyObject *view, CtEntry *pinned)
{
    long kv = 0;
    int small = Py_TYPE(key) == &PyLong_Type && small_int(key, &kv);
    if (!(small && small_fits(t->kcode, kv)) && check_key(t, key) < 0)
        return NULL;
    int64_t tns = t->timeout_ns;
    double ts = t->timeout_s;
    if (timeout != NULL && !PyFloat_CheckExact(timeout) && timeout != Py_None) {
        int r = is_table_timeout(timeout);
        if (r < 0)
            return NULL;
        if (r)
            timeout = NULL;
    }
    /* checked even where no wait happens, so that a bad one fails on every path */
    if (timeout != NULL && parse_timeout(t->name, timeout, &tns, &ts) < 0)
        return NULL;
    CtDomain *d = t->domain;
    unsigned long me = my_tid();
    if (!d->thread_safe && me != d->owner) {
        check_thread(t);
        return NULL;
    }
    if (CHECK_ROLE(t) < 0)
        return NULL;
    int traced = g_tracer != NULL && d->thread_safe;
    if (traced && call_tracer(S_acquire, t, key, write) < 0)
        return NULL;
    PyObject *eo = pinned != NULL ? (PyObject *)pinned : lookup(t, key, small, kv);
    if (eo == NULL)
        return PyErr_Occurred() ? NULL : entry_not_found(t, key);
    CtEntry *e = (CtEntry *)Py_NewRef(eo);
    int lockfree = 0;
    int64_t t0 = g_probe != NULL ? now_ns() : 0, waited_ns = 0;
    for (;;) {
        int r = try_grant(t, e, key, me, write);
        if (r == 2) {
            lockfree = 1; /* FAULT_OWNER_CHECK */
            r = 1;
        }
        if (r == 0) {
            r = recover_dead_holders(e);
            if (r > 0)
                continue;
            if (r == 0) {
                if (tns == 0) {
                    d->timeouts++;
                    raise_with(E_LockTimeout, "(OOsd)", t->name, key, write ? "write" : "read",
                               ts);
                    r = -1;
                }
                else {
                    r = wait_grant(t, e, key, write, tns, ts);
                    if (t0 != 0) /* the probe was set when this acquisition began */
                        waited_ns = now_ns() - t0;
                }
            }
            if (r > 0 && pinned == NULL &&
                PyDict_GetItemWithError(t->entries, key) != (PyObject *)e) {
                /* erased or replaced while this thread waited: start again */
                entry_ungrant(d, e, write);
                retire_prune(t, key, e);
                eo = PyDict_GetItemWithError(t->entries, key);
                Py_DECREF(e);
                if (eo == NULL)
                    return PyErr_Occurred() ? NULL : entry_not_found(t, key);
                e = (CtEntry *)Py_NewRef(eo);
                continue;
            }
        }
        if (r < 0) {
            if (pinned == NULL && PyDict_GetItemWithError(t->entries, key) != (PyObject *)e)
                retire_prune(t, key, e); /* a waiter that gave up on a displaced entry */
            Py_DECREF(e);
            return NULL;
        }
        break;
    }
    CtHandle *h = handle_alloc(&HandleType);
    if (h == NULL) {
        if (!lockfree)
            entry_ungrant(d, e, write);
        Py_DECREF(e);
        return NULL;
    }
    h->table = (CtCore *)Py_NewRef(t);
    h->entry = e; /* the reference taken above */
    h->key = Py_NewRef(key);
    h->tid = me;
    h->mode = write ? H_WRITE : H_READ;
    h->view = view == Py_None ? NULL : Py_XNewRef(view);
    h->lockfree = (unsigned char)lockfree;
    if (!lockfree)
        holder_link(e, h);
    PyObject_GC_Track(h);
    d->acquisitions++;
    if ((traced && call_tracer(S_acquired, t, key, write) < 0) ||
        (g_probe != NULL && call_probe(S_acquired, t, key, write, h, waited_ns) < 0)) {
        if (h->how == HOW_LIVE) /* the caller never gets the handle: give the entry back */
            handle_release_live(h, 0);
        Py_DECREF(h);
        return NULL;
    }
    return (PyObject *)h;
}

/* core_acquire's common case in one short pass: a one-digit int key, an entry that no handle
 * holds and no thread waits for (granted at once, as try_grant does), nothing retired at the
 * table, no tracer or probe to call, a handle on the free list (so that no Python code runs
 * in between). 1: done (*out is the handle, or NULL with an exception); 0: not this case, and
 * nothing changed: core_acquire decides everything again. */
static int acquire_uncontended(CtCore *t, PyObject *key, int write, PyObject *view, PyObject **out)
{
    CtDomain *d = t->domain;
    long kv;
    if (Py_TYPE(key) != &PyLong_Type || !small_int(key, &kv) || n_free_handles == 0 ||
        g_probe != NULL || (g_tracer != NULL && d->thread_safe) || t->retiring ||
        (g_roles != 0 && t->exporter != NULL && t_role != NULL)) /* the exporter check */
        return 0;
    unsigned long me = my_tid();
    if (!d->thread_safe && me != d->owner)
        return 0;
    CtEntry *e = t->last; /* a remembered key was checked when it was looked up */
    if (e == NULL || t->last_key != kv) {
        if (!small_fits(t->kcode, kv) || t->entries == NULL) /* not ready: core_acquire says so */
            return 0;
        e = (CtEntry *)lookup(t, key, 1, kv);
    }
    if (e == NULL || e->holders != NULL || e->state != 0 || e->waitq != NULL) {
        *out = NULL;
        return e == NULL && PyErr_Occurred();
    }
    CtHandle *h = handle_alloc(&HandleType); /* from the free list: cannot fail, runs no code */
    e->state = write ? -1 : 1;
    d->in_use++; /* the entry was idle */
    h->table = (CtCore *)Py_NewRef(t);
    h->entry = (CtEntry *)Py_NewRef(e);
    h->key = Py_NewRef(key);
    h->tid = me;
    h->mode = write ? H_WRITE : H_READ;
    h->view = view == NULL || view == Py_None ? NULL : Py_NewRef(view);
    holder_link(e, h);
    PyObject_GC_Track(h);
    d->acquisitions++;
    *out = (PyObject *)h;
    return 1;
}

/* read(key, timeout=TABLE_TIMEOUT, *, view=None) / write(...) */
static PyObject *core_get(CtCore *t, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                          int write)
{
    PyObject *key = NULL, *timeout = NULL, *view = NULL;
    if (nargs < 1 || nargs > 2)
        goto bad;
    key = args[0];
    if (nargs == 2)
        timeout = args[1];
    if (kwnames != NULL) {
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); i++) {
            PyObject *kw = PyTuple_GET_ITEM(kwnames, i), *v = args[nargs + i];
            if (PyUnicode_CompareWithASCIIString(kw, "timeout") == 0 && timeout == NULL)
                timeout = v;
            else if (PyUnicode_CompareWithASCIIString(kw, "view") == 0 && view == NULL)
                view = v;
            else
                goto bad;
        }
    }
    PyObject *h;
    if ((timeout == NULL || timeout == g_table_timeout) &&
        acquire_uncontended(t, key, write, view, &h))
        return h;
    CORE_READY(t, return NULL);
    return core_acquire(t, key, write, timeout, view, NULL);
bad:
    PyErr_Format(PyExc_TypeError, "%s(key, timeout=TABLE_TIMEOUT, *, view=None): bad arguments",
                 write ? "write" : "read");
    return NULL;
}

static PyObject *core_read(CtCore *t, PyObject *const *a, Py_ssize_t n, PyObject *kw)
{
    return core_get(t, a, n, kw, 0);
}

static PyObject *core_write(CtCore *t, PyObject *const *a, Py_ssize_t n, PyObject *kw)
{
    return core_get(t, a, n, kw, 1);
}

/* _read_pinned(values, key, field): one field of a pinned entry under its shared grant, in one
 * call (the C bridge's read_entry_field). _write_pinned(values, key, field, value): one checked
 * value stored under its exclusive grant. */
static PyObject *pinned_op(CtCore *t, PyObject *const *args, Py_ssize_t nargs, int write)
{
    CORE_READY(t, return NULL);
    if (nargs != 3 + write || !PyObject_TypeCheck(args[0], &EntryType)) {
        PyErr_SetString(PyExc_TypeError, "_read_pinned(values, key, field) / "
                                         "_write_pinned(values, key, field, value)");
        return NULL;
    }
    CtHandle *h = (CtHandle *)core_acquire(t, args[1], write, NULL, NULL, (CtEntry *)args[0]);
    if (h == NULL)
        return NULL;
    PyObject *r = NULL;
    if (!write)
        r = handle_getitem(h, args[2]);
    else {
        PyObject *f = resolve_field(h, args[2]);
        if (f != NULL && store_value(h, f, args[3]) == 0)
            r = Py_NewRef(Py_None);
        Py_XDECREF(f);
    }
    if (h->how == HOW_LIVE && handle_release_live(h, 1) < 0)
        Py_CLEAR(r);
    Py_DECREF(h);
    return r;
}

static PyObject *core_read_pinned(CtCore *t, PyObject *const *args, Py_ssize_t nargs)
{
    return pinned_op(t, args, nargs, 0);
}

static PyObject *core_write_pinned(CtCore *t, PyObject *const *args, Py_ssize_t nargs)
{
    return pinned_op(t, args, nargs, 1);
}

/* ---------------------------------------------------------------------------------------- */
/* Core: structure                                                                          */

static int core_set_timeout(CtCore *t, PyObject *v, void *Py_UNUSED(c))
{
    if (v == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete timeout");
        return -1;
    }
    if (parse_timeout(t->name, v, &t->timeout_ns, &t->timeout_s) < 0)
        return -1;
    Py_XSETREF(t->timeout, Py_NewRef(v));
    return 0;
}

static int core_init(CtCore *t, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"name", "key_type", "registry", "domain", "timeout", NULL};
    PyObject *name, *key_type, *registry, *timeout = NULL;
    CtDomain *domain;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "UOOO!|O:Core", kwlist, &name, &key_type,
                                     &registry, &DomainType, &domain, &timeout))
        return -1;
    long code = PyLong_Check(key_type) ? PyLong_AsLong(key_type) : -1;
    long long lo;
    unsigned long long hi;
    if (!(int_range((int)code, &lo, &hi) || code == ST_STRING || code == ST_BOOL)) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError, "Core: %R cannot be a key type", key_type);
        return -1;
    }
    PyObject *entries = PyDict_New();
    if (entries == NULL)
        return -1;
    if (timeout == NULL)
        timeout = PyFloat_FromDouble(30.0);
    else
        Py_INCREF(timeout);
    if (timeout == NULL || core_set_timeout(t, timeout, NULL) < 0) {
        Py_XDECREF(timeout);
        Py_DECREF(entries);
        return -1;
    }
    Py_DECREF(timeout);
    t->kcode = (int)code;
    Py_XSETREF(t->name, Py_NewRef(name));
    Py_XSETREF(t->key_type, Py_NewRef(key_type));
    Py_XSETREF(t->registry, Py_NewRef(registry));
    Py_XSETREF(t->domain, (CtDomain *)Py_NewRef(domain));
    forget_last(t);
    Py_XSETREF(t->entries, entries);
    return 0;
}

static PyObject *core_check_key(CtCore *t, PyObject *key)
{
    CORE_READY(t, return NULL);
    if (check_key(t, key) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *core_create_entry(CtCore *t, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"view", NULL};
    PyObject *view = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:create_entry", kwlist, &view))
        return NULL;
    CORE_READY(t, return NULL);
    if (check_thread(t) < 0)
        return NULL;
    PyObject *vals = PyObject_CallMethod(t->registry, "new_values", NULL);
    if (vals == NULL)
        return NULL;
    if (!PyList_Check(vals)) {
        Py_DECREF(vals);
        PyErr_SetString(PyExc_TypeError, "new_values() must return a list");
        return NULL;
    }
    CtEntry *e = entry_from_list(vals);
    Py_DECREF(vals);
    if (e == NULL)
        return NULL;
    CtHandle *h = handle_alloc(&DetachedType);
    if (h == NULL) {
        Py_DECREF(e);
        return NULL;
    }
    h->table = (CtCore *)Py_NewRef(t);
    h->entry = e;
    h->key = Py_NewRef(Py_None);
    h->tid = PyThread_get_thread_ident();
    h->mode = H_DETACHED;
    h->view = view == Py_None ? NULL : Py_NewRef(view);
    PyObject_GC_Track(h);
    return (PyObject *)h;
}

static PyObject *core_add_entry(CtCore *t, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"key", "entry", "replace", NULL};
    PyObject *key, *eo;
    int replace = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|$p:add_entry", kwlist, &key, &eo, &replace))
        return NULL;
    CORE_READY(t, return NULL);
    if (check_key(t, key) < 0)
        return NULL;
    if (!PyObject_TypeCheck(eo, &DetachedType) ||
        ((CtHandle *)eo)->table->registry != t->registry)
        return raise_with(E_ForeignEntry, "(Os)", t->name,
                          "add_entry called on entry not created by create_table_entry");
    CtHandle *h = (CtHandle *)eo;
    if (h->how != HOW_LIVE)
        return raise_with(E_StaleHandle, "(Oss)", t->name, "<detached>", how_text(h->how));
    unsigned long me = PyThread_get_thread_ident();
    if (h->tid != me)
        return handle_misuse(h, me);
    if (check_thread(t) < 0)
        return NULL;
    int replaced = PyDict_Contains(t->entries, key);
    if (replaced < 0)
        return NULL;
    if (replaced && !replace)
        return raise_with(E_EntryExists, "(OO)", t->name, key);
    PyObject *old = replaced ? PyDict_GetItemWithError(t->entries, key) : NULL;
    if (old != NULL && retire(t, key, (CtEntry *)old) < 0)
        return NULL;
    forget_last(t);
    if (PyDict_SetItem(t->entries, key, (PyObject *)h->entry) < 0)
        return NULL;
    h->how = HOW_ATTACHED;
    Py_CLEAR(h->entry);
    return PyBool_FromLong(replaced);
}

static PyObject *core_erase_entry(CtCore *t, PyObject *key)
{
    CORE_READY(t, return NULL);
    if (check_key(t, key) < 0 || check_thread(t) < 0)
        return NULL;
    PyObject *eo = PyDict_GetItemWithError(t->entries, key);
    if (eo == NULL && PyErr_Occurred())
        return NULL;
    if (find_mine(t, key, (CtEntry *)eo, PyThread_get_thread_ident()) != NULL)
        return raise_with(E_Reentrancy, "(OOs)", t->name, key,
                          "cannot erase an entry this thread holds a handle on");
    if (eo == NULL)
        return entry_not_found(t, key);
    forget_last(t);
    if (retire(t, key, (CtEntry *)eo) < 0 || PyDict_DelItem(t->entries, key) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *core_clear(CtCore *t, PyObject *Py_UNUSED(ignored))
{
    CORE_READY(t, return NULL);
    if (check_thread(t) < 0)
        return NULL;
    if (t->domain->in_use > 0) {
        unsigned long me = PyThread_get_thread_ident();
        Py_ssize_t pos = 0;
        PyObject *key, *eo;
        while (PyDict_Next(t->entries, &pos, &key, &eo))
            if (find_mine(t, key, (CtEntry *)eo, me) != NULL)
                return raise_with(E_Reentrancy, "(OOs)", t->name, key,
                                  "cannot clear a table while this thread holds a handle");
        pos = 0;
        while (t->retired != NULL && PyDict_Next(t->retired, &pos, &key, &eo))
            if (find_mine(t, key, NULL, me) != NULL)
                return raise_with(E_Reentrancy, "(OOs)", t->name, key,
                                  "cannot clear a table while this thread holds a handle");
        pos = 0;
        while (PyDict_Next(t->entries, &pos, &key, &eo))
            if (retire(t, key, (CtEntry *)eo) < 0)
                return NULL;
    }
    PyObject *fresh = PyDict_New();
    if (fresh == NULL)
        return NULL;
    forget_last(t);
    Py_SETREF(t->entries, fresh);
    Py_RETURN_NONE;
}

static Py_ssize_t core_len(CtCore *t)
{
    CORE_READY(t, return -1);
    if (check_thread(t) < 0)
        return -1;
    return PyDict_GET_SIZE(t->entries);
}

static PyObject *core_size(CtCore *t, PyObject *Py_UNUSED(ignored))
{
    Py_ssize_t n = core_len(t);
    return n < 0 ? NULL : PyLong_FromSsize_t(n);
}

static int core_contains(CtCore *t, PyObject *key)
{
    CORE_READY(t, return -1);
    if (check_thread(t) < 0)
        return -1;
    return PyDict_Contains(t->entries, key);
}

static PyObject *core_keys(CtCore *t, PyObject *Py_UNUSED(ignored))
{
    CORE_READY(t, return NULL);
    if (check_thread(t) < 0)
        return NULL;
    PyObject *keys = PyDict_Keys(t->entries);
    if (keys != NULL && PyList_Sort(keys) < 0)
        Py_CLEAR(keys);
    return keys;
}

static PyObject *core_statistics(CtCore *t, PyObject *Py_UNUSED(ignored))
{
    CORE_READY(t, return NULL);
    return domain_statistics(t->domain, NULL);
}

/* Whether this thread holds a handle on the entry at `key`. */
static PyObject *core_holds(CtCore *t, PyObject *key)
{
    CORE_READY(t, return NULL);
    PyObject *eo = PyDict_GetItemWithError(t->entries, key);
    if (eo == NULL && PyErr_Occurred())
        return NULL;
    return PyBool_FromLong(eo != NULL &&
                           find_holder((CtEntry *)eo, PyThread_get_thread_ident()) != NULL);
}

/* The state of the entry at `key`: (state, holders, waiters), for tests and tools. */
static PyObject *core_entry_state(CtCore *t, PyObject *key)
{
    CORE_READY(t, return NULL);
    PyObject *eo = PyDict_GetItemWithError(t->entries, key);
    if (eo == NULL)
        return PyErr_Occurred() ? NULL : entry_not_found(t, key);
    CtEntry *e = (CtEntry *)eo;
    Py_ssize_t nh = 0, nw = 0;
    for (CtHandle *h = e->holders; h; h = h->next)
        nh++;
    for (CtWaiter *w = e->waitq; w; w = w->next)
        nw++;
    return Py_BuildValue("(nnn)", e->state, nh, nw);
}

/* The default nested-table maker: a Core of this type sharing this table's domain. */
static PyObject *core_make_nested(CtCore *t, PyObject *field)
{
    CORE_READY(t, return NULL);
    if (!PyObject_TypeCheck(field, FieldType) || FSLOT(field, OFF_nested) == NULL ||
        FSLOT(field, OFF_nested) == Py_None) {
        PyErr_SetString(PyExc_TypeError, "_make_nested needs a nested-table Field");
        return NULL;
    }
    Py_ssize_t i = field_index(field);
    if (i < 0)
        return NULL;
    PyObject *specs = PyObject_GetAttrString(t->registry, "specs");
    if (specs == NULL)
        return NULL;
    PyObject *spec = PySequence_GetItem(specs, i);
    Py_DECREF(specs);
    if (spec == NULL)
        return NULL;
    PyObject *nkey = PyObject_GetAttrString(spec, "nested_key");
    Py_DECREF(spec);
    if (nkey == NULL)
        return NULL;
    PyTypeObject *type = Py_TYPE(t);
    CtCore *n = (CtCore *)type->tp_alloc(type, 0);
    if (n == NULL) {
        Py_DECREF(nkey);
        return NULL;
    }
    PyObject *a = Py_BuildValue("(OOOOO)", FSLOT(field, OFF_name), nkey, FSLOT(field, OFF_nested),
                                (PyObject *)t->domain, t->timeout);
    Py_DECREF(nkey);
    if (a == NULL || core_init(n, a, NULL) < 0) {
        Py_XDECREF(a);
        Py_DECREF(n);
        return NULL;
    }
    Py_DECREF(a);
    return (PyObject *)n;
}

/* nested_table(values, field): the nested table in slot `field` of an entry's storage (a
 * handle's `_values`), made on first use. */
static PyObject *core_nested_table(CtCore *t, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyObject_TypeCheck(args[0], &EntryType) ||
        !PyObject_TypeCheck(args[1], FieldType)) {
        PyErr_SetString(PyExc_TypeError, "nested_table(values, field): an entry and a Field");
        return NULL;
    }
    CtEntry *e = (CtEntry *)args[0];
    Py_ssize_t i = field_index(args[1]);
    if (i < 0)
        return NULL;
    if (i >= e->nvalues) {
        PyErr_SetString(PyExc_IndexError, "nested_table: not a slot of this entry");
        return NULL;
    }
    if (e->values[i] != Py_None)
        return Py_NewRef(e->values[i]);
    return make_nested(t, e, args[1], i);
}

static int core_traverse(CtCore *t, visitproc visit, void *arg)
{
    /* No visit of the type: a static type, and subtype_traverse visits a subclass's type. */
    Py_VISIT(t->name);
    Py_VISIT(t->key_type);
    Py_VISIT(t->registry);
    Py_VISIT(t->entries);
    Py_VISIT(t->retired);
    Py_VISIT(t->timeout);
    Py_VISIT(t->domain);
    Py_VISIT(t->exporter);
    return 0;
}

/* The cyclic GC's clear: the name and the domain stay (they hold no references, so they are in
 * no cycle), because a handle of the same garbage may still be released after this. */
static int core_clear_refs(CtCore *t)
{
    Py_CLEAR(t->key_type);
    Py_CLEAR(t->registry);
    forget_last(t);
    Py_CLEAR(t->entries);
    t->retiring = 0;
    Py_CLEAR(t->retired);
    Py_CLEAR(t->timeout);
    Py_CLEAR(t->exporter);
    return 0;
}

static void core_dealloc(CtCore *t)
{
    /* A subclass instance comes here from subtype_dealloc, which owns the type's reference. */
    PyObject_GC_UnTrack(t);
    if (t->weakrefs != NULL)
        PyObject_ClearWeakRefs((PyObject *)t);
    core_clear_refs(t);
    Py_CLEAR(t->name);
    Py_CLEAR(t->domain);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static PyObject *core_get_name(CtCore *t, void *Py_UNUSED(c)) { return Py_XNewRef(t->name); }

static PyObject *core_get_exporter(CtCore *t, void *Py_UNUSED(c))
{
    return Py_NewRef(t->exporter != NULL ? t->exporter : Py_None);
}

static int core_set_exporter(CtCore *t, PyObject *v, void *Py_UNUSED(c))
{
    if (v != NULL && v != Py_None && !PyUnicode_Check(v)) {
        PyErr_SetString(PyExc_TypeError, "exporter must be a plugin name (str) or None");
        return -1;
    }
    Py_XSETREF(t->exporter, v == NULL || v == Py_None ? NULL : Py_NewRef(v));
    return 0;
}

static PyObject *core_get_key_type(CtCore *t, void *Py_UNUSED(c))
{
    return Py_XNewRef(t->key_type);
}

static PyObject *core_get_registry(CtCore *t, void *Py_UNUSED(c))
{
    return Py_XNewRef(t->registry);
}

static PyObject *core_get_domain(CtCore *t, void *Py_UNUSED(c))
{
    return Py_XNewRef((PyObject *)t->domain);
}

static PyObject *core_get_timeout(CtCore *t, void *Py_UNUSED(c))
{
    return Py_XNewRef(t->timeout);
}

#define FASTKW(fn) (PyCFunction)(void (*)(void))(fn), METH_FASTCALL | METH_KEYWORDS
static PyMethodDef core_methods[] = {
    {"read", FASTKW(core_read),
     "read(key, timeout=TABLE_TIMEOUT, *, view=None): a shared handle on the entry at key"},
    {"write", FASTKW(core_write),
     "write(key, timeout=TABLE_TIMEOUT, *, view=None): an exclusive handle on the entry at key"},
    {"check_key", (PyCFunction)core_check_key, METH_O, "Raise InvalidKeyError for a bad key."},
    {"create_entry", (PyCFunction)(void (*)(void))core_create_entry, METH_VARARGS | METH_KEYWORDS,
     "A new detached entry with every field at its default."},
    {"add_entry", (PyCFunction)(void (*)(void))core_add_entry, METH_VARARGS | METH_KEYWORDS,
     "add_entry(key, entry, *, replace=False) -> replaced: attach a detached entry."},
    {"erase_entry", (PyCFunction)core_erase_entry, METH_O, "Remove the entry at key."},
    {"clear", (PyCFunction)core_clear, METH_NOARGS, "Remove every entry."},
    {"size", (PyCFunction)core_size, METH_NOARGS, "The number of entries."},
    {"keys", (PyCFunction)core_keys, METH_NOARGS, "A sorted snapshot of the keys."},
    {"statistics", (PyCFunction)core_statistics, METH_NOARGS, "The domain's counters (tuple)."},
    {"_holds", (PyCFunction)core_holds, METH_O, "Whether this thread holds the entry at key."},
    {"_entry_state", (PyCFunction)core_entry_state, METH_O, "(state, holders, waiters)"},
    {"_read_pinned", (PyCFunction)(void (*)(void))core_read_pinned, METH_FASTCALL,
     "_read_pinned(values, key, field): a field of a pinned entry, under its shared grant"},
    {"_write_pinned", (PyCFunction)(void (*)(void))core_write_pinned, METH_FASTCALL,
     "_write_pinned(values, key, field, value): store a checked value, under its exclusive grant"},
    {"nested_table", (PyCFunction)(void (*)(void))core_nested_table, METH_FASTCALL,
     "nested_table(values, field): the nested table in an entry's slot, made on first use"},
    {"_make_nested", (PyCFunction)core_make_nested, METH_O,
     "The nested table for a nested-table field (override in subclasses)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef core_getset[] = {
    {"name", (getter)core_get_name, NULL, "the table's name", NULL},
    {"exporter", (getter)core_get_exporter, (setter)core_set_exporter,
     "the plugin that exported the table (its other plugins' host threads are refused)", NULL},
    {"key_type", (getter)core_get_key_type, NULL, "the key's StateType", NULL},
    {"_registry", (getter)core_get_registry, NULL, "the FieldRegistry", NULL},
    {"_domain", (getter)core_get_domain, NULL, "the lock Domain", NULL},
    {"timeout", (getter)core_get_timeout, (setter)core_set_timeout,
     "default lock timeout in seconds (None: for ever)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods core_as_sequence = {
    .sq_length = (lenfunc)core_len,
    .sq_contains = (objobjproc)core_contains,
};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "concurrent_tables._core.Core",
    .tp_basicsize = sizeof(CtCore),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Core(name, key_type, registry, domain, timeout=30.0): one table's entries.",
    .tp_dealloc = (destructor)core_dealloc,
    .tp_traverse = (traverseproc)core_traverse,
    .tp_clear = (inquiry)core_clear_refs,
    .tp_weaklistoffset = offsetof(CtCore, weakrefs),
    .tp_as_sequence = &core_as_sequence,
    .tp_methods = core_methods,
    .tp_getset = core_getset,
    .tp_init = (initproc)core_init,
    .tp_new = PyType_GenericNew,
};

/* ---------------------------------------------------------------------------------------- */
/* Native ids: the C bridge's read_entry_field and write_entry_field served in C           */
/*
 * The C bridge hands native plugins ids, never object pointers: table handles, entry handles
 * (pins) and field accessors (cabi/exported.py, cabi/pins.py). Python registers here the ids a
 * call can be served for without Python, and forgets them when it forgets the id:
 *     _native_ref(id, core)          a live table handle on a Core table
 *     _native_accessor(id, field)    a field accessor (they live as long as the process)
 *     _native_pin(id, core, entry)   an entry handle pinned on `entry`, an Entry of `core`
 *     _native_unref(id), _native_unpin(id)
 * Each map owns a reference to its objects, and a pin also to the str last read through it
 * from each field, whose UTF-8 form is what the plugin got: valid until the next read of that
 * field through the pin, or the pin's release, so memory stays bounded however often a plugin
 * thread reads. `_native_gate(gate)` sets the calling thread's session gate: None outside any
 * plugin callback, else the list of the plugin's session whose item 0 holds the NV_GRANT_*
 * bits its phase grants (cabi/session.py keeps it in step with the grants). Inside a callback
 * a str the pin lets go of (another value read, or the pin released) is appended to the gate,
 * which the session empties when the callback returns: strings read during a callback stay
 * valid until it returns, as on the Python path.
 *
 * native_read_field and native_write_field, the capsule's read_field and write_field
 * (ct_core_api.h), run without the GIL, take it once (PyEval_RestoreThread on the thread's own
 * state, unless the thread already holds it), and serve the call only where the full path
 * (Core._read_pinned / _write_pinned: acquire, read or store, release) would be granted at
 * once and run no Python code:
 *     the three ids are registered, the pin and the accessor belong to the handle's table, and
 *         the field is not a nested table;
 *     the session gate is unset or grants the operation;
 *     no tracer (thread-safe domain), probe or planted fault is set;
 *     a confined domain is used by its owner thread;
 *     no entry of the table is retired (a handle of this thread on a displaced entry of the key
 *         could conflict: the full path finds it);
 *     read: the entry has no writer (state >= 0) and no waiter (waitq empty): a read would be
 *         granted at once, sharing with the live readers, and overtake nobody; the value
 *         converts without Python code (an int in range, True/False, a str with a UTF-8 form);
 *     write: the entry is free (state 0, no waiter); the field is an integer or bool one, not
 *         read-only, with a slot in this entry holding an int or bool (whose deallocation runs
 *         no Python code).
 * Since the GIL is held from those checks to the end of the call and no Python code runs, the
 * call is atomic with respect to every handle, as an acquire + read/store + release would be;
 * the entry's state is not touched (the grant would be given back before anyone could see it).
 * It counts in the domain's acquisitions like that grant. Anything else declines
 * (CT_NATIVE_SLOW), and the bridge calls the Python callback, which does the full job: waits,
 * timeouts, errors with their texts, strings and dynamic fields. A thread unknown to Python (no
 * thread state) declines too: the callback creates its state, and later calls are served here.
 */
/*
 * The C bridge hands native plugins ids, never object pointers: table handles, entry handles
 * (pins) and field accessors (cabi/exported.py, cabi/pins.py). Python registers here the ids a
 * read can be served for without Python, and forgets them when it forgets the id:
 *     _native_ref(id, core)          a live table handle on a Core table
 *     _native_accessor(id, field)    a field accessor (they live as long as the process)
 *     _native_pin(id, core, entry)   an entry handle pinned on `entry`, an Entry of `core`
 *     _native_unref(id), _native_unpin(id)
 * Each map owns a reference to its objects, and a pin also to the str last read through it
 * from each field, whose UTF-8 form is what the plugin got: valid until the next read of that
 * field through the pin, or the pin's release, so memory stays bounded however often a plugin
 * thread reads. `_native_gate(gate)` sets the calling thread's session gate: None outside any
 * plugin callback, else the list of the plugin's session whose item 0 is True while its phase
 * grants read_entry_field (cabi/session.py keeps it in step with the grants). Inside a callback
 * a str the pin lets go of (another value read, or the pin released) is appended to the gate,
 * which the session empties when the callback returns: strings read during a callback stay
 * valid until it returns, as on the Python path.
 *
 * native_read_field, the capsule's read_field (ct_core_api.h), runs without the GIL, takes it
 * once (PyEval_RestoreThread on the thread's own state, unless the thread already holds it),
 * and serves the read only where the full path (Core._read_pinned: acquire, read, release)
 * would grant it at once and run no Python code:
 *     the three ids are registered, the pin and the accessor belong to the handle's table;
 *     the session gate is unset or open;
 *     no tracer (thread-safe domain), probe or planted fault is set;
 *     a confined domain is read by its owner thread;
 *     no entry of the table is retired (a handle of this thread on a displaced entry of the key
 *         could conflict: the full path finds it);
 *     the entry has no writer (state >= 0) and no waiter (waitq empty): a read would be granted
 *         at once, sharing with the live readers, and overtake nobody;
 *     the field is not a nested table, its value converts without Python code (an int in
 *         range, True/False, a str with a UTF-8 form).
 * Since the GIL is held from those checks to the end of the read and no Python code runs, the
 * read is atomic with respect to every handle, as an acquire + read + release would be; the
 * entry's state is not touched (the grant would be given back before anyone could see it). It
 * counts in the domain's acquisitions like that grant. Anything else declines
 * (CT_NATIVE_SLOW), and the bridge calls the Python callback, which does the full job: waits,
 * timeouts, errors with their texts. A thread unknown to Python (no thread state) declines
 * too: the callback creates its state, and later reads are served here.
 */

#if PY_VERSION_HEX >= 0x030D0000
#define NV_CURRENT_TSTATE() PyThreadState_GetUnchecked()
#define NV_FINALIZING() Py_IsFinalizing()
#else
#define NV_CURRENT_TSTATE() _PyThreadState_UncheckedGet()
#define NV_FINALIZING() _Py_IsFinalizing()
#endif

typedef struct {
    uint64_t id;      /* 0: an empty slot */
    PyObject *obj;    /* ref: the Core; accessor: the Field; pin: the Entry */
    PyObject *core;   /* pin: the Core of its entry */
    PyObject **strs;  /* pin: the str last read from each field index (owned), or NULL */
    Py_ssize_t nstrs;
    /* accessor: what the read needs of its Field, whose slots are set once, at its creation
     * (borrowed: the Field holds them) */
    PyObject *registry, *dflt;
    Py_ssize_t index;
    int type;         /* the field's state type code */
    int plain;        /* not a nested table */
    int read_only;
} NvRec;

/* An open-addressing map id -> record (linear probing, at most half full). */
typedef struct {
    NvRec *recs;
    size_t mask, used;
} NvMap;

static NvMap nv_refs, nv_accessors, nv_pins;
static _Thread_local PyObject *nv_gate; /* this thread's session gate (a list, owned), or NULL */
/* native reads and writes served here / declined (counted under the GIL) */
static Py_ssize_t nv_served, nv_declined, nv_writes_served, nv_writes_declined;
enum { NV_GRANT_READ = 1, NV_GRANT_WRITE = 2 }; /* the bits of a session gate's item 0 */

static size_t nv_hash(uint64_t id)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdULL;
    id ^= id >> 33;
    return (size_t)id;
}

static NvRec *nv_find(const NvMap *m, uint64_t id)
{
    if (m->recs == NULL || id == 0)
        return NULL;
    for (size_t i = nv_hash(id) & m->mask;; i = (i + 1) & m->mask) {
        NvRec *r = &m->recs[i];
        if (r->id == id)
            return r;
        if (r->id == 0)
            return NULL;
    }
}

/* A slot for a new id (absent from the map), growing the map if needed; NULL: no memory. */
static NvRec *nv_slot(NvMap *m, uint64_t id)
{
    if (m->recs == NULL || (m->used + 1) * 2 > m->mask + 1) {
        size_t cap = m->recs == NULL ? 64 : (m->mask + 1) * 2;
        NvRec *recs = PyMem_Calloc(cap, sizeof(NvRec));
        if (recs == NULL)
            return NULL;
        NvRec *old = m->recs;
        size_t oldcap = old == NULL ? 0 : m->mask + 1;
        m->recs = recs;
        m->mask = cap - 1;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i].id != 0) {
                size_t j = nv_hash(old[i].id) & m->mask;
                while (recs[j].id != 0)
                    j = (j + 1) & m->mask;
                recs[j] = old[i];
            }
        PyMem_Free(old);
    }
    size_t i = nv_hash(id) & m->mask;
    while (m->recs[i].id != 0)
        i = (i + 1) & m->mask;
    m->used++;
    m->recs[i].id = id;
    return &m->recs[i];
}

/* Remove record `r` of `m` (backward-shift deletion: no tombstones). Its references are the
 * caller's, copied out before. */
static void nv_remove(NvMap *m, NvRec *r)
{
    size_t i = (size_t)(r - m->recs), j = i;
    for (;;) {
        j = (j + 1) & m->mask;
        if (m->recs[j].id == 0)
            break;
        size_t home = nv_hash(m->recs[j].id) & m->mask;
        /* move j into the hole at i unless its home lies cyclically in (i, j] */
        int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            m->recs[i] = m->recs[j];
            i = j;
        }
    }
    memset(&m->recs[i], 0, sizeof(NvRec));
    m->used--;
}

/* Let go of a str a pin kept: into the session gate during a callback (kept until it returns),
 * else dropped. A str's dealloc runs no Python code. */
static void nv_let_go(PyObject *s)
{
    if (nv_gate != NULL && PyList_Append(nv_gate, s) < 0)
        PyErr_Clear(); /* no memory: dropped (the pointer only lives as long as the entry's value) */
    Py_DECREF(s);
}

/* Forget `id` in `m` (nothing if absent), then drop the references its record held: last, as
 * that may run Python code (an entry's values being freed). */
static void nv_forget(NvMap *m, uint64_t id)
{
    NvRec *r = nv_find(m, id);
    if (r == NULL)
        return;
    NvRec gone = *r;
    nv_remove(m, r);
    for (Py_ssize_t i = 0; i < gone.nstrs; i++)
        if (gone.strs[i] != NULL)
            nv_let_go(gone.strs[i]);
    PyMem_Free(gone.strs);
    Py_XDECREF(gone.core);
    Py_DECREF(gone.obj);
}

static int nv_id(PyObject *o, uint64_t *id)
{
    unsigned long long v = PyLong_AsUnsignedLongLong(o);
    if (v == (unsigned long long)-1 && PyErr_Occurred())
        return -1;
    if (v == 0) {
        PyErr_SetString(PyExc_ValueError, "native ids are > 0");
        return -1;
    }
    *id = (uint64_t)v;
    return 0;
}

/* Register (id, obj[, core]) in `m`, replacing what `id` stood for: its record (valid until
 * the next change of `m`), or NULL with an exception. */
static NvRec *nv_register(NvMap *m, PyObject *idobj, PyObject *obj, PyObject *core)
{
    uint64_t id;
    if (nv_id(idobj, &id) < 0)
        return NULL;
    nv_forget(m, id);
    NvRec *r = nv_slot(m, id);
    if (r == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    r->obj = Py_NewRef(obj);
    r->core = Py_XNewRef(core);
    return r;
}

static PyObject *mod_native_ref(PyObject *Py_UNUSED(m), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyObject_TypeCheck(args[1], &CoreType)) {
        PyErr_SetString(PyExc_TypeError, "_native_ref(id, core)");
        return NULL;
    }
    if (nv_register(&nv_refs, args[0], args[1], NULL) == NULL)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *mod_native_accessor(PyObject *Py_UNUSED(m), PyObject *const *args,
                                     Py_ssize_t nargs)
{
    if (nargs != 2 || !PyObject_TypeCheck(args[1], FieldType)) {
        PyErr_SetString(PyExc_TypeError, "_native_accessor(id, field)");
        return NULL;
    }
    PyObject *t = FSLOT(args[1], OFF_type);
    long code = t != NULL && t != Py_None ? PyLong_AsLong(t) : -1;
    if (code < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "_native_accessor: the field has no state type");
        return NULL;
    }
    Py_ssize_t index = field_index(args[1]);
    PyObject *nested = FSLOT(args[1], OFF_nested);
    if (index < 0 || FSLOT(args[1], OFF_registry) == NULL || FSLOT(args[1], OFF_default) == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "uninitialised Field");
        return NULL;
    }
    NvRec *r = nv_register(&nv_accessors, args[0], args[1], NULL);
    if (r == NULL)
        return NULL;
    r->type = (int)code;
    r->registry = FSLOT(args[1], OFF_registry);
    r->dflt = FSLOT(args[1], OFF_default);
    r->index = index;
    r->plain = nested == NULL || nested == Py_None;
    r->read_only = FSLOT(args[1], OFF_read_only) == Py_True;
    Py_RETURN_NONE;
}

static PyObject *mod_native_pin(PyObject *Py_UNUSED(m), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyObject_TypeCheck(args[1], &CoreType) ||
        !PyObject_TypeCheck(args[2], &EntryType)) {
        PyErr_SetString(PyExc_TypeError, "_native_pin(id, core, entry)");
        return NULL;
    }
    if (nv_register(&nv_pins, args[0], args[2], args[1]) == NULL)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *nv_unregister(NvMap *m, PyObject *idobj)
{
    uint64_t id;
    if (nv_id(idobj, &id) < 0)
        return NULL;
    nv_forget(m, id);
    Py_RETURN_NONE;
}

static PyObject *mod_native_unref(PyObject *Py_UNUSED(m), PyObject *id)
{
    return nv_unregister(&nv_refs, id);
}

static PyObject *mod_native_unpin(PyObject *Py_UNUSED(m), PyObject *id)
{
    return nv_unregister(&nv_pins, id);
}

static PyObject *mod_native_gate(PyObject *Py_UNUSED(m), PyObject *gate)
{
    if (gate != Py_None && !(PyList_CheckExact(gate) && PyList_GET_SIZE(gate) >= 1)) {
        PyErr_SetString(PyExc_TypeError, "_native_gate(None or a non-empty list)");
        return NULL;
    }
    Py_XSETREF(nv_gate, gate == Py_None ? NULL : Py_NewRef(gate));
    Py_RETURN_NONE;
}

/* Whether every id of `m` is found where a lookup looks for it (the deletions kept the probe
 * chains whole), and the count is right. */
static int nv_consistent(const NvMap *m)
{
    size_t n = 0;
    for (size_t i = 0; m->recs != NULL && i <= m->mask; i++)
        if (m->recs[i].id != 0) {
            n++;
            if (nv_find(m, m->recs[i].id) != &m->recs[i])
                return 0;
        }
    return n == m->used;
}

static PyObject *mod_native_statistics(PyObject *Py_UNUSED(m), PyObject *Py_UNUSED(ignored))
{
    int ok = nv_consistent(&nv_refs) && nv_consistent(&nv_accessors) && nv_consistent(&nv_pins);
    return Py_BuildValue("{snsnsnsnsnsnsnsi}", "served", nv_served, "declined", nv_declined,
                         "writes_served", nv_writes_served, "writes_declined",
                         nv_writes_declined, "refs", (Py_ssize_t)nv_refs.used, "accessors",
                         (Py_ssize_t)nv_accessors.used, "pins", (Py_ssize_t)nv_pins.used,
                         "consistent", ok);
}

/* Keep `s` (an exact str), just read from field index `i` through `pin`, until the next such
 * read. */
static int nv_keep(NvRec *pin, Py_ssize_t i, PyObject *s)
{
    if (i >= pin->nstrs) {
        Py_ssize_t n = i + 1 > 2 * pin->nstrs ? i + 1 : 2 * pin->nstrs;
        PyObject **strs = PyMem_Realloc(pin->strs, (size_t)n * sizeof(PyObject *));
        if (strs == NULL)
            return -1;
        memset(strs + pin->nstrs, 0, (size_t)(n - pin->nstrs) * sizeof(PyObject *));
        pin->strs = strs;
        pin->nstrs = n;
    }
    PyObject *old = pin->strs[i];
    if (old != s) {
        pin->strs[i] = Py_NewRef(s);
        if (old != NULL)
            nv_let_go(old);
    }
    return 0;
}

/* `v` as a value of state type `type` in `out`: 1, or 0 if only Python can convert it. */
static int nv_convert(int type, PyObject *v, ct_native_value *out)
{
    if (type == ST_BOOL) {
        if (v != Py_True && v != Py_False)
            return 0;
        out->v.b = v == Py_True;
        return 1;
    }
    long long lo;
    unsigned long long hi;
    if (!int_range(type, &lo, &hi) || !PyLong_Check(v))
        return 0;
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (x == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    if (overflow == 0) {
        if (x < lo || (x > 0 && (unsigned long long)x > hi))
            return 0;
        if (lo < 0)
            out->v.i = x;
        else
            out->v.u = (uint64_t)x;
        return 1;
    }
    if (overflow < 0 || lo < 0)
        return 0;
    unsigned long long u = PyLong_AsUnsignedLongLong(v); /* above LLONG_MAX: a uint64 */
    if (u == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    out->v.u = u;
    return 1;
}

/* Whether the calling thread's session grants `bit` (no session: a plugin's own thread). */
static int nv_granted(long bit)
{
    if (nv_gate == NULL)
        return 1;
    long g = PyLong_AsLong(PyList_GET_ITEM(nv_gate, 0));
    if (g == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return (g & bit) != 0;
}

/* The pinned entry that (table, entry, field) ids stand for, if the rules common to reads and
 * writes let C serve the call (see above; `grant`: the session gate's bit), else NULL. */
static CtEntry *nv_resolve(uint64_t tid, uint64_t eid, uint64_t fid, long grant, NvRec **pin_,
                           NvRec **acc_, CtCore **t_)
{
    NvRec *ref, *pin, *acc;
    if ((ref = nv_find(&nv_refs, tid)) == NULL || (pin = nv_find(&nv_pins, eid)) == NULL ||
        pin->core != ref->obj || (acc = nv_find(&nv_accessors, fid)) == NULL)
        return NULL;
    CtCore *t = (CtCore *)ref->obj;
    CtDomain *d = t->domain;
    if (acc->registry != t->registry || !acc->plain || t->entries == NULL || !nv_granted(grant) ||
        g_probe != NULL || g_faults != 0 || (g_tracer != NULL && d->thread_safe) ||
        (!d->thread_safe && PyThread_get_thread_ident() != d->owner) ||
        t->retiring ||
        (g_roles != 0 && t->exporter != NULL && t_role != NULL)) /* the exporter check: slow path */
        return NULL;
    *pin_ = pin;
    *acc_ = acc;
    *t_ = t;
    return (CtEntry *)pin->obj;
}

/* The read itself, with the GIL held: CT_NATIVE_DONE or CT_NATIVE_SLOW (see above). */
static int nv_read_held(uint64_t tid, uint64_t eid, uint64_t fid, ct_native_value *out)
{
    NvRec *pin, *acc;
    CtCore *t;
    CtEntry *e = nv_resolve(tid, eid, fid, NV_GRANT_READ, &pin, &acc, &t);
    if (e == NULL || e->state < 0 || e->waitq != NULL)
        return CT_NATIVE_SLOW;
    Py_ssize_t i = acc->index;
    PyObject *v = i < e->nvalues ? e->values[i] : acc->dflt;
    if (acc->type == ST_STRING) {
        if (!PyUnicode_CheckExact(v)) /* a subclass's deallocation could run Python code */
            return CT_NATIVE_SLOW;
        const char *s = PyUnicode_AsUTF8AndSize(v, NULL); /* kept in the str itself */
        if (s == NULL) {                                   /* lone surrogates: Python's job */
            PyErr_Clear();
            return CT_NATIVE_SLOW;
        }
        if (nv_keep(pin, i, v) < 0)
            return CT_NATIVE_SLOW;
        out->v.s = s;
    }
    else if (!nv_convert(acc->type, v, out))
        return CT_NATIVE_SLOW;
    out->type = acc->type;
    t->domain->acquisitions++;
    return CT_NATIVE_DONE;
}

/* The Python value of `in` (the ABI's ss_plugin_state_data) read as state type `type`: a new
 * reference, or NULL (no exception) where only Python converts it. Every member of the union
 * starts at its first byte. */
static PyObject *nv_incoming(int type, const void *in)
{
    switch (type) {
    case 1: { int8_t x; memcpy(&x, in, sizeof(x)); return PyLong_FromLong(x); }
    case 2: { int16_t x; memcpy(&x, in, sizeof(x)); return PyLong_FromLong(x); }
    case 3: { int32_t x; memcpy(&x, in, sizeof(x)); return PyLong_FromLong(x); }
    case 4: { int64_t x; memcpy(&x, in, sizeof(x)); return PyLong_FromLongLong(x); }
    case 5: { uint8_t x; memcpy(&x, in, sizeof(x)); return PyLong_FromLong(x); }
    case 6: { uint16_t x; memcpy(&x, in, sizeof(x)); return PyLong_FromLong(x); }
    case 7: { uint32_t x; memcpy(&x, in, sizeof(x)); return PyLong_FromUnsignedLong(x); }
    case 8: { uint64_t x; memcpy(&x, in, sizeof(x)); return PyLong_FromUnsignedLongLong(x); }
    case ST_BOOL: { uint32_t x; memcpy(&x, in, sizeof(x)); return Py_NewRef(x ? Py_True : Py_False); }
    default: return NULL; /* strings: checked and decoded in Python */
    }
}

/* The write itself, with the GIL held: an integer or bool stored in the pinned entry where an
 * exclusive grant would be given at once (no handle, no waiter), over an int or bool (whose
 * deallocation runs no Python code). A field this entry has no slot for yet (a dynamic field
 * added later) and a read-only one decline: Python grows the entry, or refuses. */
static int nv_write_held(uint64_t tid, uint64_t eid, uint64_t fid, const void *in)
{
    NvRec *pin, *acc;
    CtCore *t;
    CtEntry *e = nv_resolve(tid, eid, fid, NV_GRANT_WRITE, &pin, &acc, &t);
    if (e == NULL || e->state != 0 || e->waitq != NULL || acc->read_only ||
        acc->index >= e->nvalues)
        return CT_NATIVE_SLOW;
    PyObject *old = e->values[acc->index];
    if (!PyLong_CheckExact(old) && !PyBool_Check(old))
        return CT_NATIVE_SLOW;
    PyObject *v = nv_incoming(acc->type, in);
    if (v == NULL) {
        PyErr_Clear(); /* no memory, or a string: the full path */
        return CT_NATIVE_SLOW;
    }
    e->values[acc->index] = v;
    Py_DECREF(old);
    t->domain->acquisitions++;
    return CT_NATIVE_DONE;
}

/* Take the GIL with this thread's own state, unless it holds it already: 1 taken, 0 already
 * held, -1 not taken (a thread Python never saw, whose callback will make its state; or Python
 * is finalizing). */
static int nv_enter(void)
{
    PyThreadState *ts = PyGILState_GetThisThreadState();
    if (ts == NULL || NV_FINALIZING())
        return -1;
    if (NV_CURRENT_TSTATE() == ts)
        return 0;
    PyEval_RestoreThread(ts);
    return 1;
}

static int native_read_field(uint64_t table, uint64_t entry, uint64_t field, ct_native_value *out)
{
    int taken = out != NULL ? nv_enter() : -1;
    if (taken < 0)
        return CT_NATIVE_SLOW;
    int r = nv_read_held(table, entry, field, out);
    if (r == CT_NATIVE_DONE)
        nv_served++;
    else
        nv_declined++;
    if (taken)
        PyEval_SaveThread();
    return r;
}

static int native_write_field(uint64_t table, uint64_t entry, uint64_t field, const void *in)
{
    int taken = in != NULL ? nv_enter() : -1;
    if (taken < 0)
        return CT_NATIVE_SLOW;
    int r = nv_write_held(table, entry, field, in);
    if (r == CT_NATIVE_DONE)
        nv_writes_served++;
    else
        nv_writes_declined++;
    if (taken)
        PyEval_SaveThread();
    return r;
}

static const ct_core_api nv_api = {CT_CORE_API_VERSION, native_read_field, native_write_field};

/* ---------------------------------------------------------------------------------------- */
/* Module                                                                                   */

static PyObject *mod_set_tracer(PyObject *Py_UNUSED(m), PyObject *tracer)
{
    if (tracer != Py_None && !PyCallable_Check(tracer)) {
        PyErr_SetString(PyExc_TypeError, "set_tracer: a callable or None");
        return NULL;
    }
    PyObject *old = g_tracer;
    g_tracer = tracer == Py_None ? NULL : Py_NewRef(tracer);
    return old != NULL ? old : Py_NewRef(Py_None);
}

static PyObject *mod_set_probe(PyObject *Py_UNUSED(m), PyObject *probe)
{
    if (probe != Py_None && !PyCallable_Check(probe)) {
        PyErr_SetString(PyExc_TypeError, "set_probe: a callable or None");
        return NULL;
    }
    PyObject *old = g_probe;
    g_probe = probe == Py_None ? NULL : Py_NewRef(probe);
    return old != NULL ? old : Py_NewRef(Py_None);
}

static PyObject *mod_set_faults(PyObject *Py_UNUSED(m), PyObject *mask)
{
    long v = PyLong_AsLong(mask);
    if (v == -1 && PyErr_Occurred())
        return NULL;
    if (v < 0 || v > FAULTS_ALL) {
        PyErr_Format(PyExc_ValueError, "_set_faults: %ld is not a mask of FAULT_* flags", v);
        return NULL;
    }
    int old = g_faults;
    g_faults = (int)v;
    return PyLong_FromLong(old);
}

/* The calling thread's role: its plugin's name, or None (roles.set_role calls this). */
static PyObject *mod_set_role(PyObject *Py_UNUSED(m), PyObject *plugin)
{
    if (plugin != Py_None && !PyUnicode_Check(plugin)) {
        PyErr_SetString(PyExc_TypeError, "set_role: a plugin name (str) or None");
        return NULL;
    }
    PyObject *old = t_role;
    t_role = plugin == Py_None ? NULL : Py_NewRef(plugin);
    g_roles += (t_role != NULL) - (old != NULL); /* under the GIL */
    Py_XDECREF(old);
    Py_RETURN_NONE;
}

static PyObject *mod_free_handles(PyObject *Py_UNUSED(m), PyObject *Py_UNUSED(ignored))
{
    return PyLong_FromLong(n_free_handles);
}

/* bind_getters(cls): give a Core subclass its own `read` and `write` method descriptors. CPython
 * specialises `obj.write(k)` to a direct C call only when obj's type is exactly the
 * descriptor's class: with Core's own, a subclass's instance (every Table on this core) took
 * the generic call path at each nested-table acquisition. */
static PyObject *mod_bind_getters(PyObject *Py_UNUSED(m), PyObject *cls)
{
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &CoreType)) {
        PyErr_SetString(PyExc_TypeError, "bind_getters: a subclass of Core");
        return NULL;
    }
    for (PyMethodDef *def = core_methods; def->ml_name != NULL; def++) {
        if (strcmp(def->ml_name, "read") != 0 && strcmp(def->ml_name, "write") != 0)
            continue;
        PyObject *descr = PyDescr_NewMethod((PyTypeObject *)cls, def);
        if (descr == NULL)
            return NULL;
        int r = PyObject_SetAttrString(cls, def->ml_name, descr);
        Py_DECREF(descr);
        if (r < 0)
            return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"set_tracer", mod_set_tracer, METH_O,
     "Install the lock-point observer tracer(event, domain, table, key, write); returns the "
     "previous one."},
    {"set_probe", mod_set_probe, METH_O,
     "Install stress's per-handle probe(event, table, key, write, handle, wait_ns); returns the "
     "previous one."},
    {"_set_faults", mod_set_faults, METH_O,
     "Plant library bugs for stress selftest (a mask of FAULT_*; 0: none); returns the previous "
     "mask."},
    {"set_role", mod_set_role, METH_O,
     "Set the calling thread's role: the name of the plugin it works for, or None."},
    {"_free_handles", mod_free_handles, METH_NOARGS, "Handles kept for reuse (tests)."},
    {"bind_getters", mod_bind_getters, METH_O,
     "Give a Core subclass its own read/write method descriptors (a direct call from Python)."},
    {"_native_ref", (PyCFunction)(void (*)(void))mod_native_ref, METH_FASTCALL,
     "_native_ref(id, core): a live table handle id on `core`, for the C bridge's fast read."},
    {"_native_unref", mod_native_unref, METH_O, "_native_unref(id): forget a table handle id."},
    {"_native_accessor", (PyCFunction)(void (*)(void))mod_native_accessor, METH_FASTCALL,
     "_native_accessor(id, field): a field accessor id, for the C bridge's fast read."},
    {"_native_pin", (PyCFunction)(void (*)(void))mod_native_pin, METH_FASTCALL,
     "_native_pin(id, core, entry): an entry handle id pinned on `entry`, for the fast read."},
    {"_native_unpin", mod_native_unpin, METH_O,
     "_native_unpin(id): forget an entry handle id (and the strings read through it)."},
    {"_native_gate", mod_native_gate, METH_O,
     "_native_gate(gate): this thread's session gate (None, or a list whose item 0 has bit 1 "
     "while reads are granted, bit 2 while writes are)."},
    {"_native_statistics", mod_native_statistics, METH_NOARGS,
     "Native reads served in C / declined, the registered ids, and whether the id maps are "
     "consistent (tests)."},
    {NULL, NULL, 0, NULL},
};

static int import_errors(void)
{
    struct { PyObject **dst; const char *name; } names[] = {
        {&E_EntryNotFound, "EntryNotFoundError"}, {&E_EntryExists, "EntryExistsError"},
        {&E_ForeignEntry, "ForeignEntryError"},   {&E_ForeignField, "ForeignFieldError"},
        {&E_InvalidKey, "InvalidKeyError"},       {&E_InvalidValue, "InvalidValueError"},
        {&E_ReadOnlyField, "ReadOnlyFieldError"}, {&E_ReadOnlyHandle, "ReadOnlyHandleError"},
        {&E_Reentrancy, "ReentrancyError"},       {&E_Borrow, "BorrowError"},
        {&E_LockTimeout, "LockTimeoutError"},     {&E_StaleHandle, "StaleHandleError"},
        {&E_InvalidTimeout, "InvalidTimeoutError"}, {&E_FieldArgument, "FieldArgumentError"},
    };
    PyObject *mod = PyImport_ImportModule("concurrent_tables.errors");
    if (mod == NULL)
        return -1;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        Py_XSETREF(*names[i].dst, PyObject_GetAttrString(mod, names[i].name));
        if (*names[i].dst == NULL) {
            Py_DECREF(mod);
            return -1;
        }
    }
    Py_DECREF(mod);
    return 0;
}

static int slot_offset(const char *name, Py_ssize_t *off)
{
    PyObject *d = PyObject_GetAttrString((PyObject *)FieldType, name);
    if (d == NULL)
        return -1;
    int ok = Py_TYPE(d) == &PyMemberDescr_Type &&
             ((PyMemberDescrObject *)d)->d_member->type == T_OBJECT_EX;
    if (ok)
        *off = ((PyMemberDescrObject *)d)->d_member->offset;
    Py_DECREF(d);
    if (!ok)
        PyErr_Format(PyExc_ImportError, "Field.%s must be a __slots__ member", name);
    return ok ? 0 : -1;
}

static int import_fields(void)
{
    PyObject *mod = PyImport_ImportModule("concurrent_tables.fields");
    if (mod == NULL)
        return -1;
    PyObject *ft = PyObject_GetAttrString(mod, "Field");
    Py_DECREF(mod);
    if (ft == NULL)
        return -1;
    if (!PyType_Check(ft)) {
        Py_DECREF(ft);
        PyErr_SetString(PyExc_ImportError, "concurrent_tables.fields.Field is not a class");
        return -1;
    }
    FieldType = (PyTypeObject *)ft;
    if (slot_offset("registry", &OFF_registry) < 0 || slot_offset("index", &OFF_index) < 0 ||
        slot_offset("type", &OFF_type) < 0 || slot_offset("private", &OFF_private) < 0 ||
        slot_offset("read_only", &OFF_read_only) < 0 || slot_offset("nested", &OFF_nested) < 0 ||
        slot_offset("default", &OFF_default) < 0 || slot_offset("name", &OFF_name) < 0)
        return -1;
    mod = PyImport_ImportModule("concurrent_tables.types");
    if (mod == NULL)
        return -1;
    value_problem_fn = PyObject_GetAttrString(mod, "value_problem");
    Py_DECREF(mod);
    return value_problem_fn == NULL ? -1 : 0;
}

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "concurrent_tables._core",
    .m_doc = "The table core in C: entries, reader/writer state, handles (see ct_core.c).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__core(void)
{
    if (import_errors() < 0 || import_fields() < 0)
        return NULL;
    S_acquire = PyUnicode_InternFromString("acquire");
    S_acquired = PyUnicode_InternFromString("acquired");
    S_release = PyUnicode_InternFromString("release");
    S_store = PyUnicode_InternFromString("store");
    S_wait = PyUnicode_InternFromString("wait");
    if (S_acquire == NULL || S_acquired == NULL || S_release == NULL || S_store == NULL ||
        S_wait == NULL)
        return NULL;
    PyTypeObject *types[] = {&DomainType,   &CoreType,      &EntryType,
                             &HandleType,   &DetachedType,  &WithMethodType};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (PyType_Ready(types[i]) < 0)
            return NULL;
    if (add_with_methods() < 0)
        return NULL;
    PyObject *m = PyModule_Create(&core_module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Domain", (PyObject *)&DomainType) < 0 ||
        PyModule_AddObjectRef(m, "Core", (PyObject *)&CoreType) < 0 ||
        PyModule_AddObjectRef(m, "Handle", (PyObject *)&HandleType) < 0 ||
        PyModule_AddObjectRef(m, "DetachedEntry", (PyObject *)&DetachedType) < 0 ||
        PyModule_AddObjectRef(m, "Entry", (PyObject *)&EntryType) < 0 ||
        PyModule_AddIntConstant(m, "FREE_HANDLES", FREE_HANDLES) < 0 ||
        PyModule_AddIntConstant(m, "FAULT_OWNER_CHECK", FAULT_OWNER_CHECK) < 0 ||
        PyModule_AddIntConstant(m, "FAULT_WAIT_UNDO", FAULT_WAIT_UNDO) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    PyObject *api = PyCapsule_New((void *)&nv_api, CT_CORE_API_CAPSULE, NULL);
    if (api == NULL || PyModule_AddObjectRef(m, "_C_API", api) < 0) {
        Py_XDECREF(api);
        Py_DECREF(m);
        return NULL;
    }
    Py_DECREF(api);
    return m;
}

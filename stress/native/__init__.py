"""The `native` scenario (`scenario`), its C workload plugin (workload.c) and that plugin's build
(`build`): a native plugin's pthreads and Python threads on one Python table.
"""

from .scenario import NativeScenario

__all__ = ["NativeScenario"]

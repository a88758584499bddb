"""tessera's shared library.

Importing it tunes glibc's malloc so that XLA:CPU reuses large host buffers between
executions instead of page-faulting them in afresh every round (lib/host_memory.py; it must
run before JAX's threads first allocate; TESSERA_HOST_MALLOC=default opts out)."""

from lib import host_memory as _host_memory

_host_memory.reuse_large_buffers()

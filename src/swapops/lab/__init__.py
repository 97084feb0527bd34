"""swapops lab: a real Linux kernel under QEMU runs the workload swapops models.

See ``docs/validation.md``. The C workload program (``workload.c``) and its
content generator (``content.h``, the twin of :mod:`swapops.content`) ship
in this package.
"""

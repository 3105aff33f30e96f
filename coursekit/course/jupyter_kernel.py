"""Running notebooks in a kernel of *this* Python environment.

``coursekit grade`` and ``coursekit execute`` must run notebooks with the interpreter that
has coursekit installed, not whatever a user-level ``python3`` kernelspec points at.
"""

from __future__ import annotations

import sys


def current_env_kernel_manager() -> object:
    """A kernel manager whose ``python3`` kernel is this interpreter (ipykernel must be installed)."""
    import ipykernel.kernelspec
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    class CurrentEnvSpecs(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> object:
            spec = ipykernel.kernelspec.get_kernel_dict()
            spec["argv"][0] = sys.executable
            return self.kernel_spec_class(resource_dir=ipykernel.kernelspec.RESOURCES, **spec)

    return AsyncKernelManager(kernel_name="python3", kernel_spec_manager=CurrentEnvSpecs())

"""The offline world: the simulator model, the simulator agent and the local protocol server.

May import: models and the base modules. Registers the `sim` backend with the model registry.
"""

from ..models import ModelSpec, register_backend


def simulator(spec: ModelSpec):
    """The `sim` backend, imported on first use so that importing the package stays cheap."""
    from .model import SimModel

    return SimModel(spec)


register_backend("sim", simulator, cached=False)

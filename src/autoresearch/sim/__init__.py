"""The offline world: the simulator model, the simulator agent and the local protocol server.

May import: models and the base modules. Registers the `sim` backend with the model registry.
"""

from ..models import register_backend
from .model import SimModel

register_backend("sim", SimModel)

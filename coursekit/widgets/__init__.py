"""Widgets: thin layers that call an experiment and draw its numbers; no logic of their own.

Every widget is an :class:`Explorer` over a public *view function* ``view(**values) ->
(summary, figure)``, so pytest calls exactly what a slider calls. One module per lesson.
"""

from .explorer import Explorer
from .gradient_flow import gradient_flow_explorer, gradient_flow_summary, gradient_flow_view

__all__ = [
    "Explorer",
    "gradient_flow_explorer",
    "gradient_flow_summary",
    "gradient_flow_view",
]

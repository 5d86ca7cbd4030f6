"""The scaled-out topology on one machine: `Topology(settings).up()`, `.status()`, `.down()`.

See stack.py for the layout under $SLIMLINE_HOME/topology and docs/scale-out.md for use.
"""

from slimline.topology.services import POOL
from slimline.topology.stack import ORDER, Ports, Topology

__all__ = ["ORDER", "POOL", "Ports", "Topology"]

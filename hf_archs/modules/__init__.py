"""Building blocks shared by the designs and backbones (they travel with saved checkpoints as remote code)."""

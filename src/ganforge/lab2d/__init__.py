"""The 2-D lab: watch G and D play on points in a plane (``ganforge lab``)."""

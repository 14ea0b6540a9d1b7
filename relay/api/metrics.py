"""(being written by the metrics work)"""


class Metrics:
    pass

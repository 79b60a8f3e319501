"""The minimal SNR model: the linear-teacher experiments that the gradient-signal claim is checked against."""

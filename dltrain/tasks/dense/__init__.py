"""Dense vision: a class for every pixel (segmentation) or boxes around objects (detection); their tasks, metrics,
the pictures their runs leave, and what predict writes for them."""

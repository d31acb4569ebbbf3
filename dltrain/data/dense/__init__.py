"""Data for dense vision: images with a class per pixel (segmentation) or with boxes (detection), read from the
layouts people already have (image/mask folders, Pascal VOC, COCO JSON, YOLO txt)."""

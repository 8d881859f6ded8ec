"""The image adapter: the same UNITE core on images (Fashion-MNIST here, ImageNet layout on CUDA)."""

from unite_mol.images.adapter import IMAGE_PRESETS, ImageAdapter, ImageBatch, ImageConfig, build_image_model, sample_images

__all__ = ["ImageAdapter", "ImageBatch", "ImageConfig", "IMAGE_PRESETS", "build_image_model", "sample_images"]

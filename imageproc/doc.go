// Package imageproc turns image files into model input exactly as transformers'
// BlipImageProcessor (its PIL path) does: decoding (JPEG with libjpeg's chroma upsampling and
// colour tables, PNG, GIF, WebP, BMP, TIFF) with a pixel limit read from the header, EXIF
// orientation, conversion to 8-bit RGB, Pillow's fixed-point resampling, then rescale and
// normalize into channel-first float32 pixels.
//
// It knows nothing of any model: the vision transformer (package vit) and every later model
// that reads a preprocessor_config.json use it alike.
package imageproc

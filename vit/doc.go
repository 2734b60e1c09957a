// Package vit is BLIP's vision transformer (BlipVisionModel): patch and position embeddings,
// pre-norm encoder layers and the final layer norm, mapping preprocessed pixels [3, S, S]
// (package imageproc makes them) to image embeddings [1 + (S/P)², D].
package vit

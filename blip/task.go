package blip

import "github.com/imagesemantics/blipgo/internal/arch"

// Task is what a BLIP checkpoint can do; its String is the transformers class.
type Task = arch.Task

// The tasks, one per transformers BLIP class.
const (
	// Captioning is BlipForConditionalGeneration: Caption, CaptionBatch.
	Captioning = arch.Captioning
	// QuestionAnswering is BlipForQuestionAnswering: Answer.
	QuestionAnswering = arch.QuestionAnswering
	// ImageTextMatching is BlipForImageTextRetrieval: Match, ImageEmbedding, TextEmbedding.
	ImageTextMatching = arch.ImageTextMatching
)

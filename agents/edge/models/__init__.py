"""Detection models: the on-disk store, converters (TensorFlow.js → OpenVINO IR) and output decoders."""

"""Call preparation: voice activity, silence compression, diarization, roles, segmentation."""

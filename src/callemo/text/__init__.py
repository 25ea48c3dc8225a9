"""Transcripts of calls: offline speech recognition (faster-whisper) and PII redaction.

Layer 1 (beside ``prep`` and ``features``): imports only ``io``, ``errors``, ``utils`` and ``segments``.
Import the modules directly (``callemo.text.asr``, ``callemo.text.redact``): nothing here is loaded
unless a transcript is asked for, so plain analysis never pays for it.
"""

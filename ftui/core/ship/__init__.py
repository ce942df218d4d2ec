"""Ship: exports, parity of an export with the judged model, serving."""

"""The scoring stream, stage by stage: source -> validate -> batch -> score -> produce -> commit."""

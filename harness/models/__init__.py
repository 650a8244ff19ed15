"""Backbones (where pretrained weights come from) and attention control."""

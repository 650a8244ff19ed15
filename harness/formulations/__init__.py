"""Objectives as LightningModules, plus the data module and trainer that drive them."""

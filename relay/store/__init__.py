"""The relay's persistent state: one interface (:mod:`.base`), one module per database."""

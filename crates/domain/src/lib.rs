//! Pure domain core of Prism Plan: commands, events, decide and evolve.

//! Step 3 of the data line: check a bundle's bindings and constraints against the provider model.

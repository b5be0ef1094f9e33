//! Turns a validated [`Config`](super::Config) into the small typed configs
//! the cores take (ACD, registrar, dial plan).

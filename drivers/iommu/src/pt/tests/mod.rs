//! The one test suite every format runs.

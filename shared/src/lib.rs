//! feedkit

//! End-to-end tests: the real action binaries driven over stdin/stdout and real HTTP.

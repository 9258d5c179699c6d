//! `bench-floor`: starts and exits. Built exactly like the actions (static, the workspace's release
//! profile), its activation time and peak memory are what any native action pays before its own
//! work: the floor the benchmark subtracts.

fn main() {}

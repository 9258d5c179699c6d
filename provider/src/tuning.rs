//! The timing and size knobs of an instance (from the command line; tests shorten them).

use std::time::Duration;

/// Every knob, with the defaults of a production instance.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// How often a database is asked to send a heartbeat line.
    pub heartbeat: Duration,
    /// First wait before a reconnect or a fire retry...
    pub retry_min: Duration,
    /// ... doubling up to this.
    pub retry_max: Duration,
    /// How long one fire may take.
    pub fire_timeout: Duration,
    /// Fires of one feed in flight at once (and fired but not yet saved).
    pub fire_window: usize,
    /// How often positions are written to the store (and a fleet's leases renewed at least).
    pub save_interval: Duration,
    /// How long a bucket lease lasts without renewal: the longest a dead instance's feeds wait
    /// for another instance to take them over.
    pub lease: Duration,
    /// How often a connected feed asks its database whether it was re-created.
    pub recheck: Duration,
    /// TCP connects in progress at once (to databases and OpenWhisk together).
    pub connects: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(10),
            retry_min: Duration::from_millis(250),
            retry_max: Duration::from_secs(60),
            fire_timeout: Duration::from_secs(30),
            fire_window: 100,
            save_interval: Duration::from_millis(250),
            lease: Duration::from_secs(15),
            recheck: Duration::from_secs(300),
            connects: 256,
        }
    }
}

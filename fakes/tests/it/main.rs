//! Integration tests of the fakes over real HTTP on 127.0.0.1.

mod counting_proxy;
mod feed_source;
mod gitea_api;
mod github_api;
mod github_delivery;
mod json_source;
mod support;

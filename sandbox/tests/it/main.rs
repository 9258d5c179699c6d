//! Integration tests of the sandbox through real HTTP on 127.0.0.1, with real action processes
//! (tiny shell-script `exec` files zipped like native actions).

mod actions;
mod activations;
mod alarms;
mod answers;
mod auth;
mod deploy;
mod library;
mod modules;
mod packages;
mod program;
mod retention;
mod rules;
mod server;
mod state;
mod support;
mod swagger;
mod triggers;
mod web;

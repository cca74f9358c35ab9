//! The wasmtime engine settings, in one place so they can be measured and
//! tuned against the benchmark (bench/) without touching anything else.

/// The engine configuration every handler is compiled and run with.
pub fn engine_config() -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    // Deadlines: a background ticker advances the epoch; see engine.rs.
    config.epoch_interruption(true);
    config
}

//! `routes.yaml` text → `Config::parse` → `Runtime::compile` with an empty
//! environment, then a reload over the result: no input may panic, since a
//! panic while compiling on SIGHUP kills a running relay. Error messages
//! are rendered too (the did-you-mean formatter runs there).
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::config::Config;
use switchboard::config::interpolate::Env;
use switchboard::runtime::Runtime;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // `{file: PATH}` secrets are read while compiling; a device such as
    // /dev/zero never ends. Operators choose these paths, so they are out
    // of scope here rather than a bug.
    if ["/dev", "/proc", "/sys"].iter().any(|p| text.contains(p)) {
        return;
    }
    let env = Env::default();
    let config = match Config::parse(text) {
        Ok(config) => config,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    match Runtime::compile(config, &env, None) {
        Ok(runtime) => {
            if let Ok(again) = Config::parse(text) {
                let _ = Runtime::compile(again, &env, Some(&runtime));
            }
        }
        Err(problems) => {
            let _ = problems.to_string();
        }
    }
});

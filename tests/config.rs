#![allow(clippy::unwrap_used)]
use switchboard::config::Config;
use switchboard::interpolate::Env;
use switchboard::runtime::Runtime;

#[test]
fn probe() {
    let cases = [
        "sources: {s: {}}\ntargets:\n  a:\n    url: \"http://x/\n  b:\n    url: http://y/\n",
        "sources: {s: {}}\ntargets:\n  a:\n    url: http://x/\n   method: GET\n",
        "sources: {s: {}}\ntargets:\n  a: {url: http://x/\n",
        "sources: {s: {}}\ntargets:\n  a:\n    url: http://x/\n    rate: 2000000000/s\nroutes:\n  - to: [a]\n    when: {jq: '.a +'}\n  - to: [a]\n    transform: {jq: 'nosuchfn(1)'}\n  - to: [a]\n    when: {equals: 1}\n",
        "routes: []\n",
        "server: {max_body: 1TB}\n",
        "sources: {s: {}}\ntargets:\n  a:\n    url: not a url\n    headers: {\"Bad Header\": x}\nroutes:\n  - to: [a]\n    when: {header: {name: X, in: [a]}}\n",
    ];
    for c in cases {
        match Config::parse(c) {
            Err(e) => println!("PARSE: {e}\n  dbg {e:?}"),
            Ok(cfg) => match Runtime::compile(cfg, &Env::default(), None) {
                Ok(_) => println!("OK"),
                Err(p) => println!("PROBLEMS: {p:#?}"),
            },
        }
    }
}

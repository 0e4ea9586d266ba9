#![no_main]

use libfuzzer_sys::fuzz_target;

// One HTTP request as text (see sgops_fuzz::serve::RawRequest): its body through every
// action's parser and checks, then the whole request through the route.
fuzz_target!(|data: &[u8]| sgops_fuzz::serve_one(data));

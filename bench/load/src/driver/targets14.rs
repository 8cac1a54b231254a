//! The targets of issue 14 (performance: untouched requests, cookies, the
//! Redis near cache), judged on server CPU per request like issue 5's.

use crate::driver::report::Target;
use crate::driver::results::{Run, ROUTES};
use crate::servers::Kind;

/// Evaluate every target of issue 14 against `run`.
pub fn targets(run: &Run) -> Vec<Target> {
    let mut out = Vec::new();
    let rps = |k: Kind, r: &str| run.get(k, r).map(|m| m.wrk.rps);
    let cpu = |k: Kind, r: &str| run.get(k, r).map(|m| m.cpu_us_per_req);
    // `a` per `b` in throughput terms: b's CPU per request over a's.
    let cpu_vs = |a: Kind, b: Kind, r: &str| Some(cpu(b, r)? / cpu(a, r)?);
    let vs = |a: Kind, b: Kind, r: &str| Some(rps(a, r)? / rps(b, r)?);
    let mut at_least = |what: String, a: Kind, b: Kind, route: &str, min: f64| {
        let by_cpu = cpu_vs(a, b, route);
        let value = vs(a, b, route);
        out.push(Target {
            measured: value.map_or("not measured".to_owned(), |v| format!("{v:.2}")),
            by_cpu,
            met: by_cpu.or(value).map(|v| v >= min),
            what,
        });
    };
    let sp = [
        Kind::SpCookie,
        Kind::SpEncrypted,
        Kind::SpRedis,
        Kind::SpRedisNear,
        Kind::SpRedisNearOwn,
        Kind::SpSeed,
        Kind::SpActixCookie,
        Kind::SpActixRedis,
    ];
    for k in sp {
        if run.get(k, "/none").is_some() {
            at_least(
                format!("{k} `/none` >= 0.97 × baseline"),
                k,
                Kind::Baseline,
                "/none",
                0.97,
            );
        }
    }
    at_least(
        "sp-cookie `/read` >= 0.85 × baseline".into(),
        Kind::SpCookie,
        Kind::Baseline,
        "/read",
        0.85,
    );
    at_least(
        "sp-cookie `/write` >= 0.70 × baseline".into(),
        Kind::SpCookie,
        Kind::Baseline,
        "/write",
        0.70,
    );
    for route in ["/read", "/write"] {
        at_least(
            format!("sp-cookie `{route}` ahead of actix-cookie (> 1.00×)"),
            Kind::SpCookie,
            Kind::ActixCookie,
            route,
            1.0 + 1e-9,
        );
        at_least(
            format!("sp-encrypted `{route}` within 10% of sp-cookie (>= 0.90×)"),
            Kind::SpEncrypted,
            Kind::SpCookie,
            route,
            0.90,
        );
    }
    for k in [Kind::SpRedis, Kind::SpRedisNear, Kind::SpRedisNearOwn] {
        for route in ["/read", "/write"] {
            at_least(
                format!("{k} `{route}` >= 1.3× actix-redis"),
                k,
                Kind::ActixRedis,
                route,
                1.3,
            );
        }
    }
    for (k, wants) in [
        (Kind::SpRedis, [0.0, 1.0, 2.0]),
        (Kind::SpSeed, [0.0, 1.0, 2.0]),
        (Kind::SpRedisNear, [0.0, 0.0, 2.0]),
        (Kind::SpRedisNearOwn, [0.0, 0.0, 2.0]),
    ] {
        for (route, want) in ROUTES.iter().zip(wants) {
            let got = run.get(k, route).map(|m| m.redis_client_per_req);
            out.push(Target {
                what: format!("{k} `{route}`: at most {want} Redis round trips per request"),
                measured: got.map_or("not measured".to_owned(), |v| format!("{v:.2}")),
                by_cpu: None,
                // Allow for rounding of the per-request average only.
                // Rounding of the per-request average; the near cache's reads
                // also include the one miss after the priming write.
                met: got.map(|v| {
                    let near = matches!(k, Kind::SpRedisNear | Kind::SpRedisNearOwn);
                    v <= want + if near { 0.05 } else { 0.01 }
                }),
            });
        }
    }
    out
}

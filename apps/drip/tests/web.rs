//! The web UI over plain HTTP, where a browser is not needed to see it: the upload form as a
//! browser without the page's script posts it (multipart, streamed, CSRF token in the form),
//! and the node dashboard at `/dashboard`, for the users `--admins` names only.

mod support;

use harness::http::{request, request_raw};
use support::{bytes, drip, Drip};

/// Posts the upload form as `multipart/form-data` with `cookie`: `fields` in order, then the
/// file; the status line, headers and body.
fn post_form(
    d: &Drip,
    cookie: &str,
    fields: &[(&str, &str)],
    file_name: &str,
    file: &[u8],
    headers: &[(&str, &str)],
) -> (String, String, Vec<u8>) {
    let boundary = "----dripboundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let kind = format!("multipart/form-data; boundary={boundary}");
    let mut all = vec![("Cookie", cookie), ("Content-Type", kind.as_str())];
    all.extend_from_slice(headers);
    request_raw(d.http, "POST", "/files/upload", &all, &body)
}

#[test]
fn the_upload_form_streams_a_multipart_file_and_wants_the_csrf_token() {
    let d = drip("webform", &[]);
    let (token, _) = d.account("ana");
    let web = d.web_login("ana");
    // 3 MiB: past axum's 2 MB default body limit, which the upload route lifts.
    let original = bytes(3 * 1024 * 1024 + 5, 9);
    let (status, head, _) = post_form(
        &d,
        &web.cookie,
        &[("csrf", &web.csrf), ("path", "$/forms")],
        "plain.bin",
        &original,
        &[],
    );
    assert!(status.contains("303"), "{status}");
    assert!(head.contains("location: /files?path=%24%2fforms"), "{head}");
    let (_, listing) = d.call("GET", "/api/files?path=%24/forms", Some(&token), "");
    let id = listing["files"][0]["id"]
        .as_str()
        .expect("the file is listed");
    d.stored(&token, id);
    let (status, got) = d.download(&token, id);
    assert!(status.contains("200") && got == original, "{status}");

    // The page's script sends the same form and gets the id.
    let (status, _, answer) = post_form(
        &d,
        &web.cookie,
        &[("csrf", &web.csrf), ("path", "$/forms")],
        "scripted.bin",
        b"by script",
        &[("X-Requested-With", "XMLHttpRequest")],
    );
    assert!(status.contains("201"), "{status}");
    let answer: serde_json::Value = serde_json::from_slice(&answer).expect("JSON");
    d.stored(&token, answer["id"].as_str().expect("an id"));

    // Without the token, or with another, nothing is kept.
    for fields in [
        vec![("path", "$/forged")],
        vec![("csrf", "forged"), ("path", "$/forged")],
    ] {
        let (status, _, _) = post_form(&d, &web.cookie, &fields, "forged.bin", b"forged", &[]);
        assert!(status.contains("403"), "{status}");
    }
    // A small field past its limit is refused before more of it is read.
    let long = "$/".to_owned() + &"p".repeat(5000);
    let (status, _, answer) = post_form(
        &d,
        &web.cookie,
        &[("csrf", &web.csrf), ("path", &long)],
        "x.bin",
        b"x",
        &[],
    );
    assert!(status.contains("400"), "{status}");
    assert!(
        String::from_utf8_lossy(&answer).contains("path field is too long"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // A bad name in the form is refused like the API's.
    let (status, _, _) = post_form(
        &d,
        &web.cookie,
        &[("csrf", &web.csrf), ("path", "$/forged")],
        "a/b",
        b"x",
        &[],
    );
    assert!(status.contains("400"), "{status}");
    let (_, listing) = d.call("GET", "/api/files?path=%24/forged", Some(&token), "");
    assert_eq!(listing["files"], serde_json::json!([]), "{listing}");
    let spooled = std::fs::read_dir(d.data.join("spool"))
        .expect("the spool")
        .count();
    assert_eq!(spooled, 0, "a refused upload leaves no spool file");
}

#[test]
fn the_node_dashboard_is_for_admins_only() {
    let d = drip("webdash", &["--admins", "ana"]);
    d.account("ana");
    d.account("bob");
    // Listed, but not granted: not an admin yet.
    let ana = d.web_login("ana");
    let (status, _, _) = d.page(&ana.cookie, "/dashboard");
    assert!(status.contains("403"), "{status}");
    d.grant_admin("ana");
    // No session: to the landing page, as every page.
    let (status, head, _) = d.page("", "/dashboard");
    assert!(status.contains("303"), "{status}");
    assert!(
        head.contains("location: /\r\n") || head.ends_with("location: /"),
        "{head}"
    );
    let (status, _, _) = d.page("", &format!("/dashboard/node/{}/stages", d.node));
    assert!(status.contains("303"), "{status}");
    // Bob is not an admin.
    let bob = d.web_login("bob");
    for path in [
        "/dashboard".to_owned(),
        format!("/dashboard/node/{}", d.node),
        format!("/dashboard/metrics?node={}", d.node),
    ] {
        let (status, _, page) = d.page(&bob.cookie, &path);
        assert!(status.contains("403"), "{path}: {status}");
        assert!(page.contains("for Drip's admins"), "{page}");
    }
    // Ana is: the cluster page links the node under /dashboard, whose home, pipelines and
    // supervision trees are Drip's own.
    let ana = d.web_login("ana");
    let (status, _, page) = d.page(&ana.cookie, "/dashboard");
    assert!(status.contains("200"), "{status}");
    assert!(
        page.contains(&format!("href=\"/dashboard/node/{}\"", d.node)),
        "{page}"
    );
    let (status, _, page) = d.page(&ana.cookie, &format!("/dashboard/node/{}", d.node));
    assert!(status.contains("200"), "{status}");
    assert!(
        page.contains(&format!(
            "data-events=\"/dashboard/node/{}/events\"",
            d.node
        )),
        "{page}"
    );
    let (status, _, page) = d.page(&ana.cookie, &format!("/dashboard/node/{}/stages", d.node));
    assert!(status.contains("200"), "{status}");
    assert!(
        page.contains("encryption"),
        "the upload pipeline's stages: {page}"
    );
    let (status, _, page) = d.page(&ana.cookie, &format!("/dashboard/node/{}/tree", d.node));
    assert!(status.contains("200"), "{status}");
    // Drip is an application of its node, its tree beside kernel's.
    for part in [
        "data-id=\"drip\"",
        "data-id=\"drip_upload_sup\"",
        "data-id=\"'upload.encryption.1'\"",
        "data-id=\"drip_download_sup\"",
        "data-id=\"drip_cache_sup\"",
    ] {
        assert!(
            page.contains(part),
            "Drip's supervision tree has {part}: {page}"
        );
    }
    // The picker is a POST from the dashboard's own page, with its form token; a GET of it
    // (a link or an image of another site, which Drip's Lax cookie would follow) is no pick.
    let (_, _, cluster) = d.page(&ana.cookie, "/dashboard");
    let token = cluster
        .split("name=\"token\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("the picker's form token: {cluster}"))
        .to_owned();
    let pick = |headers: &[(&str, &str)], body: &str| {
        let mut all = vec![
            ("Cookie", ana.cookie.as_str()),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ];
        all.extend_from_slice(headers);
        request(d.http, "POST", "/dashboard/pick", &all, body)
    };
    let (status, head, _) = pick(
        &[("Sec-Fetch-Site", "same-origin")],
        &format!("node={}&token={token}", d.node),
    );
    assert!(status.contains("303"), "{status}");
    assert!(
        head.contains(&format!("location: /dashboard/node/{}", d.node)),
        "{head}"
    );
    let (status, _, _) = pick(
        &[("Sec-Fetch-Site", "cross-site")],
        &format!("node={}&token={token}", d.node),
    );
    assert!(status.contains("403"), "{status}");
    let (status, _, _) = d.page(&ana.cookie, &format!("/dashboard/pick?node={}", d.node));
    assert!(status.contains("405"), "{status}");
    // Nor does a GET of a node not picked make Drip's node connect to it.
    let (status, _, _) = d.page(&ana.cookie, "/dashboard/node/victim@localhost");
    assert!(status.contains("404"), "{status}");
}

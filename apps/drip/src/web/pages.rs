//! Drip's HTML, rendered on the server: one layout with its style and one small script
//! inline (live notices over the WebSocket, the upload's progress bar), so the binary serves
//! everything itself, with no CDN.

use std::fmt::Write as _;

use crate::db::{Media, User};
use crate::paths;

/// Text for HTML.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Text for a query value.
pub fn url(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Bytes, readable.
pub fn size(n: i64) -> String {
    let n = n.max(0) as f64;
    if n >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} GiB", n / (1024.0 * 1024.0 * 1024.0))
    } else if n >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", n / (1024.0 * 1024.0))
    } else if n >= 1024.0 {
        format!("{:.1} KiB", n / 1024.0)
    } else {
        format!("{n} B")
    }
}

pub(crate) const STYLE: &str = "body{font:15px system-ui,sans-serif;margin:0;color:#222}header{background:#1d4e6b;color:#fff;padding:.6em 1em;display:flex;gap:1em;align-items:center}\
header a,header button{color:#fff}header h1{font-size:1.2em;margin:0 1em 0 0}header form{margin-left:auto}header button{background:none;border:1px solid #fff;border-radius:3px;cursor:pointer}\
main{padding:1em;max-width:60em}table{border-collapse:collapse;margin:.5em 0}td,th{padding:.25em .7em;text-align:left}tr:nth-child(even){background:#f1f4f7}\
td.n{text-align:right}.error{color:#a00}.crumbs a{margin:0 .2em}#notices{list-style:none;padding:0;margin:0}#notices li{background:#eaf6ea;border-left:4px solid #3a3;margin:.3em 0;padding:.3em .6em}\
#notices li.upload_failed,#notices li.download_failed{background:#fbeaea;border-color:#a33}#presence{float:right;border:1px solid #ccd;padding:0 .8em;margin-left:1em}#presence h3{font-size:1em;margin:.4em 0}#online{padding-left:1.2em}form.inline{display:inline}progress{width:20em}fieldset{border:1px solid #ccd;margin:.6em 0}code{overflow-wrap:anywhere}";

pub(crate) const SCRIPT: &str = "(function(){var n=document.getElementById('notices');if(n&&window.WebSocket){var p=location.protocol==='https:'?'wss:':'ws:';\
var on=document.getElementById('online');var ws,open=function(){ws=new WebSocket(p+'//'+location.host+'/socket');\
ws.onopen=function(){ws.send(JSON.stringify({join:n.dataset.topic}));ws.send(JSON.stringify({join:'presence'}));};\
ws.onmessage=function(e){var d=JSON.parse(e.data);if(d.event==='presence'&&on){on.textContent='';d.users.forEach(function(u){var li=document.createElement('li');\
li.dataset.username=u.username;li.dataset.connections=u.connections;li.textContent=u.username+(u.connections>1?' ('+u.connections+')':'');on.appendChild(li);});return;}\
if(d.event!=='notice')return;var li=document.createElement('li');\
li.className=d.kind;li.dataset.kind=d.kind;if(d.link&&/^\\/(?![\\/\\\\])/.test(d.link)){var a=document.createElement('a');a.href=d.link;a.textContent=d.text;li.appendChild(a);}else{li.textContent=d.text;}\
n.insertBefore(li,n.firstChild);};ws.onclose=function(){setTimeout(open,2000);};};open();}\
document.querySelectorAll('form[data-xhr]').forEach(function(g){g.addEventListener('submit',function(ev){ev.preventDefault();var st=document.getElementById(g.dataset.xhr);\
fetch(g.action,{method:'POST',body:new URLSearchParams(new FormData(g))}).then(function(r){return r.text().then(function(t){st.textContent=t;st.dataset.status=r.status;});},function(){st.textContent='the request broke off';});});});\
var f=document.getElementById('upload');if(f){f.addEventListener('submit',function(ev){ev.preventDefault();var file=f.querySelector('input[type=file]').files[0];if(!file)return;\
var bar=document.getElementById('progress'),st=document.getElementById('upload-status');var x=new XMLHttpRequest();\
x.open('POST',f.action);x.setRequestHeader('x-requested-with','XMLHttpRequest');\
x.upload.onprogress=function(e){if(e.lengthComputable){bar.max=e.total;bar.value=e.loaded;}};\
x.onload=function(){var r={};try{r=JSON.parse(x.responseText);}catch(e){}st.textContent=x.status===201?'stored: '+file.name:'refused: '+(r.error||x.status);st.dataset.status=x.status;};\
x.onerror=function(){st.textContent='the upload broke off';};x.send(new FormData(f));});}})();";

/// The page frame: `user`'s navigation (if logged in) and the live notices.
pub fn layout(title: &str, user: Option<(&User, &str)>, body: &str) -> String {
    let nav = match user {
        Some((u, csrf)) => format!(
            "<a href=\"/files\">files</a><a href=\"/shared\">shared with me</a><a href=\"/account\">{}</a>\
             <form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button>log out</button></form>",
            escape(&u.username)
        ),
        None => "<a href=\"/signup\">sign up</a><a href=\"/login\">log in</a>".to_owned(),
    };
    let notices = match user {
        Some((u, _)) => format!(
            "<aside id=\"presence\"><h3>online</h3><ul id=\"online\"></ul></aside>\
             <ul id=\"notices\" aria-live=\"polite\" data-topic=\"user:{}\"></ul>",
            escape(&u.id)
        ),
        None => String::new(),
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{} — Drip</title><style>{STYLE}</style></head>\n<body><header><h1><a href=\"/\">Drip</a></h1>{nav}</header>\n\
         <main>{notices}\n{body}\n</main><script>{SCRIPT}</script></body></html>\n",
        escape(title)
    )
}

/// The landing page (with a sign-up link when anyone may sign up).
pub fn landing(signup_open: bool) -> String {
    let join = if signup_open {
        "<a href=\"/signup\">Sign up</a> or <a href=\"/login\">log in</a>."
    } else {
        "<a href=\"/login\">Log in</a> (accounts are made by invitation)."
    };
    layout(
        "welcome",
        None,
        &format!(
            "<h2>Encrypted file storage</h2><p>Drip keeps your files encrypted, each with its own key, in folders you make; \
             share one with another user and they hear of it at once.</p><p>{join}</p>"
        ),
    )
}

/// The page a sign-up gets when it needs an invite it does not have.
pub fn signup_closed(mode: crate::config::Signup) -> String {
    let why = match mode {
        crate::config::Signup::Closed => {
            "Sign-up is closed on this Drip: its operator makes accounts."
        }
        _ => "Sign-up on this Drip is by invitation: ask an admin for an invite link.",
    };
    layout(
        "sign up",
        None,
        &format!("<h2>sign up</h2><p class=\"error\">{why}</p><p><a href=\"/login\">Log in</a> if you have an account.</p>"),
    )
}

/// The account page: who, "log out everywhere", and for an admin the invites it made (`made`:
/// the link just made, shown once).
pub fn account(
    user: &User,
    csrf: &str,
    invites: Option<&[crate::db::Invite]>,
    made: Option<&str>,
) -> String {
    let mut body = format!(
        "<h2>your account</h2><table><tr><th>username</th><td>{}</td></tr><tr><th>email</th><td>{}</td></tr>\
         <tr><th>role</th><td>{}</td></tr></table>\
         <form method=\"post\" action=\"/account/logout-everywhere\" id=\"logout-everywhere\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <p><button>log out everywhere</button> ends every session of yours, in every browser, and every API token.</p></form>",
        escape(&user.username),
        escape(&user.email),
        if user.admin { "admin (<a href=\"/dashboard/\">node dashboard</a>)" } else { "user" },
    );
    if let Some(invites) = invites {
        body.push_str("<fieldset><legend>invites</legend>");
        if let Some(link) = made {
            let _ = write!(
                body,
                "<p>A new invite, good for one account for seven days (it is shown only now): <code id=\"invite-link\">{}</code></p>",
                escape(link)
            );
        }
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/account/invites\" id=\"invite\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button>make an invite link</button></form><ul id=\"invites\">"
        );
        let now = crate::db::now_ms();
        for i in invites {
            let state = match &i.used_by {
                Some(name) => format!("used by {}", escape(name)),
                None if i.expires_at <= now => "expired".to_owned(),
                None => "open".to_owned(),
            };
            let _ = write!(
                body,
                "<li>{}… {state}</li>",
                escape(&i.token_hash[..8.min(i.token_hash.len())])
            );
        }
        body.push_str("</ul></fieldset>");
    }
    layout("account", Some((user, csrf)), &body)
}

/// The sign-up or log-in form, with the pre-session's CSRF token and (signing up) the invite.
pub fn account_form(
    signup: bool,
    error: Option<&str>,
    username: &str,
    csrf: &str,
    invite: Option<&str>,
) -> String {
    let (title, action, extra) = if signup {
        (
            "sign up",
            "/signup",
            "<p><label>email <input name=\"email\" type=\"email\" required></label></p>",
        )
    } else {
        ("log in", "/login", "")
    };
    let error = error.map_or_else(String::new, |e| {
        format!("<p class=\"error\">{}</p>", escape(e))
    });
    let invite = invite.map_or_else(String::new, |i| {
        format!(
            "<input type=\"hidden\" name=\"invite\" value=\"{}\">",
            escape(i)
        )
    });
    layout(
        title,
        None,
        &format!(
            "<h2>{title}</h2>{error}<form method=\"post\" action=\"{action}\" id=\"account\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">{invite}\
             <p><label>username <input name=\"username\" value=\"{}\" required maxlength=\"30\" pattern=\"[A-Za-z0-9._\\-]{{1,30}}\" autocomplete=\"username\"></label></p>{extra}\
             <p><label>password <input name=\"password\" type=\"password\" required minlength=\"8\" maxlength=\"100\"></label></p>\
             <p><button>{title}</button></p></form>",
            escape(username)
        ),
    )
}

/// A folder: breadcrumbs, its folders and files, and the upload form.
pub fn folder(
    user: &User,
    csrf: &str,
    path: &str,
    files: &[crate::db::Listed],
    folders: &[paths::Folder],
) -> String {
    let mut body = String::from("<p class=\"crumbs\">");
    for (name, at) in paths::ancestors(path) {
        let _ = write!(
            body,
            "/<a href=\"/files?path={}\">{}</a>",
            url(&at),
            escape(&name)
        );
    }
    body.push_str(
        "</p>\n<table id=\"folders\"><tr><th>folder</th><th>files</th><th>size</th></tr>",
    );
    for f in folders {
        let _ = write!(
            body,
            "<tr><td><a href=\"/files?path={}\">{}/</a></td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            url(&paths::join(path, &f.name)),
            escape(&f.name),
            f.files,
            size(f.size as i64)
        );
    }
    body.push_str(
        "</table>\n<table id=\"files\"><tr><th>file</th><th>size</th><th>stored</th></tr>",
    );
    for m in files {
        let _ = write!(
            body,
            "<tr data-name=\"{}\"><td><a href=\"/files/{}\">{}</a></td><td class=\"n\">{}</td><td>{}</td></tr>",
            escape(&m.name),
            escape(&m.id),
            escape(&m.name),
            size(m.size),
            if m.uploaded_at.is_some() { "yes" } else { "on its way" }
        );
    }
    let _ = write!(
        body,
        "</table>\n<form id=\"upload\" method=\"post\" action=\"/files/upload\" enctype=\"multipart/form-data\"><fieldset><legend>upload here</legend>\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"path\" value=\"{}\">\
         <input type=\"file\" name=\"file\" required> <button>upload</button> <progress id=\"progress\" value=\"0\" max=\"1\"></progress>\
         <span id=\"upload-status\"></span></fieldset></form>\
         <form method=\"get\" action=\"/files\"><fieldset><legend>a new folder</legend>\
         <input name=\"path\" value=\"{}/\" required> <button>open</button> (it holds what you upload into it)</fieldset></form>",
        escape(path),
        escape(path)
    );
    layout(path, Some((user, csrf)), &body)
}

/// A file: its details, its download, and (for its owner) share, rename, move and delete.
pub fn file(
    user: &User,
    csrf: &str,
    m: &Media,
    owner: Option<&[String]>,
    error: Option<&str>,
) -> String {
    let error = error.map_or_else(String::new, |e| {
        format!("<p class=\"error\">{}</p>", escape(e))
    });
    let mut body = format!(
        "<h2>{}</h2>{error}<table><tr><th>folder</th><td><a href=\"/files?path={}\">{}</a></td></tr>\
         <tr><th>size</th><td>{}</td></tr><tr><th>stored</th><td>{}</td></tr></table>",
        escape(&m.name),
        url(&m.path),
        escape(&m.path),
        size(m.size),
        if m.uploaded_at.is_some() { "yes" } else { "on its way" }
    );
    if m.uploaded_at.is_some() {
        let _ = write!(
            body,
            "<p><a id=\"download\" href=\"/files/{id}/download\">download now</a></p>\
             <form method=\"post\" action=\"/files/{id}/request\" id=\"request\" data-xhr=\"request-status\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button>request a download link</button> <span id=\"request-status\"></span></form>",
            id = escape(&m.id)
        );
    }
    if let Some(shares) = owner {
        let id = escape(&m.id);
        let hidden = format!("<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">");
        body.push_str("<fieldset><legend>shared with</legend><ul id=\"shares\">");
        for s in shares {
            let _ = write!(
                body,
                "<li>{} <form class=\"inline\" method=\"post\" action=\"/files/{id}/unshare\">{hidden}<input type=\"hidden\" name=\"username\" value=\"{}\"><button>revoke</button></form></li>",
                escape(s),
                escape(s)
            );
        }
        let _ = write!(
            body,
            "</ul><form method=\"post\" action=\"/files/{id}/share\" id=\"share\">{hidden}<input name=\"username\" placeholder=\"username\" required> <button>share</button></form></fieldset>\
             <fieldset><legend>rename or move</legend><form method=\"post\" action=\"/files/{id}/rename\" id=\"rename\">{hidden}\
             <label>name <input name=\"name\" value=\"{}\" required></label> <label>folder <input name=\"path\" value=\"{}\" required></label> <button>save</button></form></fieldset>\
             <form method=\"post\" action=\"/files/{id}/delete\" id=\"delete\">{hidden}<button>delete</button></form>",
            escape(&m.name),
            escape(&m.path)
        );
    }
    layout(&m.name, Some((user, csrf)), &body)
}

/// What others shared with the user.
pub fn shared(user: &User, csrf: &str, files: &[(Media, String)]) -> String {
    let mut body = String::from("<h2>shared with me</h2><table id=\"shared\"><tr><th>file</th><th>from</th><th>size</th></tr>");
    for (m, owner) in files {
        let _ = write!(
            body,
            "<tr><td><a href=\"/files/{}\">{}</a></td><td>{}</td><td class=\"n\">{}</td></tr>",
            escape(&m.id),
            escape(&m.name),
            escape(owner),
            size(m.size)
        );
    }
    body.push_str("</table>");
    layout("shared with me", Some((user, csrf)), &body)
}

//! The hall's TV: the latest call per window with a flash (for visitors who cannot hear), the
//! recent calls, waiting per service, notices and the time, in type readable across the hall.
//! It follows the hall by server-sent events and reconnects by itself.

use super::{Lang, Web, page, script};
use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures_util::Stream;
use maud::{Markup, html};
use std::convert::Infallible;

pub fn routes() -> Router<Web> {
    Router::new().route("/display", get(display)).route("/display/events", get(events))
}

async fn display(State(web): State<Web>, lang: Lang) -> Markup {
    let v = web.hall.view();
    page(
        lang,
        "叫号显示 / Hall display",
        "display",
        html! {
            header.bar {
                h1 { (lang.t(&v.hall_name.zh, &v.hall_name.en)) }
                span #clock.clock {}
                span #link.link {}
            }
            main.display-grid {
                section #latest.latest aria-live="assertive" {}
                section.recent { h2 { (lang.t("最近叫号", "Recent calls")) } ol #recent {} }
                section.waiting { h2 { (lang.t("等候人数", "Waiting")) } table #waiting {} }
            }
            section #notices.notices {}
            (script(&format!("const LANG = '{}';\n{}", if lang == Lang::En { "en" } else { "zh" }, DISPLAY_JS)))
        },
    )
}

const DISPLAY_JS: &str = r#"
const two = (zh, en) => LANG === 'en' ? `${en} <small>${zh}</small>` : `${zh} <small>${en}</small>`;
const esc = s => String(s).replace(/[&<>"']/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
let view = null;
function render() {
  if (!view) return;
  const latest = document.getElementById('latest');
  latest.innerHTML = view.calls.slice(0, 1).map(c =>
    `<div class="call flash" data-ticket="${esc(c.ticket)}"><span class="no">${esc(c.ticket)}</span>` +
    `<span class="to">${two('请到 ' + esc(c.window) + ' 号窗口', 'please go to window ' + esc(c.window))}</span></div>`).join('');
  document.getElementById('recent').innerHTML = view.calls.slice(1).map(c =>
    `<li><span class="no">${esc(c.ticket)}</span> → ${two(esc(c.window) + ' 号窗口', 'window ' + esc(c.window))} <small>${esc(c.at)}</small></li>`).join('');
  document.getElementById('waiting').innerHTML = view.services.filter(s => s.waiting > 0 || s.open).map(s =>
    `<tr><td>${two(esc(s.name.zh), esc(s.name.en))}</td><td class="n">${s.waiting}</td><td>${two('约 ' + s.wait_min + ' 分钟', '~' + s.wait_min + ' min')}</td></tr>`).join('');
  document.getElementById('notices').innerHTML = view.notices.map(([t, b]) =>
    `<article><h3>${two(esc(t.zh), esc(t.en))}</h3><p>${esc(LANG === 'en' ? b.en : b.zh)}</p></article>`).join('');
  document.getElementById('link').textContent = view.online === false ? (LANG === 'en' ? 'offline · 离线' : '离线 · offline') : '';
  document.body.dataset.version = view.version;
}
function connect() {
  const es = new EventSource('/display/events');
  es.addEventListener('view', e => { view = JSON.parse(e.data); render(); });
  es.addEventListener('call', e => {
    const c = JSON.parse(e.data);
    if (view) { view.calls = [c].concat(view.calls.filter(x => x.ticket !== c.ticket)).slice(0, 12); render(); }
  });
  es.onerror = () => { document.getElementById('link').textContent = '…'; };
}
setInterval(() => { document.getElementById('clock').textContent = new Date().toLocaleTimeString('zh-CN', {hour12: false}); }, 1000);
connect();
"#;

async fn events(State(web): State<Web>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let mut views = web.hall.watch();
    let mut calls = web.hall.calls();
    let stream = async_stream(move |tx| async move {
        let first = views.borrow_and_update().clone();
        if tx.send(view_event(&first)).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                changed = views.changed() => {
                    if changed.is_err() { return; }
                    let v = views.borrow_and_update().clone();
                    if tx.send(view_event(&v)).await.is_err() { return; }
                }
                call = calls.recv() => match call {
                    Ok(c) => {
                        let data = serde_json::to_string(&*c).unwrap_or_default();
                        if tx.send(Event::default().event("call").data(data)).await.is_err() { return; }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return,
                },
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

fn view_event(v: &crate::hall::HallView) -> Event {
    Event::default().event("view").data(serde_json::to_string(v).unwrap_or_default())
}

/// A stream fed by a task: the task sends events until the page goes away.
fn async_stream<F, Fut>(f: F) -> impl Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Event>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(f(tx));
    futures_util::StreamExt::map(tokio_stream::wrappers::ReceiverStream::new(rx), Ok)
}

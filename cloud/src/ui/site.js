// The live parts of the website: a hall's status and a visitor's ticket follow their JSON
// every few seconds. Everything is built from text nodes (never from markup), so nothing a
// catalogue or a hall sends can become markup or script here.
// Forms that cannot be undone (revoking a node, deleting a service…) carry `data-confirm`, the
// question to ask first (scripts are this file only: the page cannot carry an onsubmit).
document.addEventListener('submit', (e) => {
  const q = e.target instanceof HTMLFormElement ? e.target.dataset.confirm : undefined;
  if (q && !window.confirm(q)) e.preventDefault();
});

(function () {
  'use strict';
  const main = document.getElementById('main');
  if (!main || !main.dataset.live || !main.dataset.poll) return;
  const EN = main.dataset.lang === 'en';
  const URL_ = main.dataset.poll;
  const EVERY = 5000;

  // An element with attributes and children (strings become text nodes).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined) e.setAttribute(k, String(v));
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  // Both languages, the reader's first and the other smaller; one when the other is empty.
  function two(zh, en) {
    const f = document.createDocumentFragment();
    zh = zh || ''; en = en || '';
    if (zh && !en) { f.append(el('span', { lang: 'zh-CN' }, zh)); return f; }
    if (en && !zh) { f.append(el('span', { lang: 'en' }, en)); return f; }
    if (EN) {
      f.append(el('span', { lang: 'en' }, en), ' ', el('small', { class: 'other', lang: 'zh-CN' }, zh));
    } else {
      f.append(el('span', { lang: 'zh-CN' }, zh), ' ', el('small', { class: 'other', lang: 'en' }, en));
    }
    return f;
  }

  function windowLabel(no, name) {
    if (name && (name.zh || name.en)) return two(name.zh, name.en);
    return two(no + ' 号窗口', 'window ' + no);
  }

  function replaceChildren(id, ...children) {
    const e = document.getElementById(id);
    if (e) e.replaceChildren(...children);
    return e;
  }

  function liveness(j) {
    if (j.online) return el('span', { class: 'online', 'data-online': 'true' }, two('在线 · 实时', 'online · live'));
    const span = el('span', { class: 'offline', 'data-online': 'false' });
    if (j.last_heard_min !== null && j.last_heard_min !== undefined && j.last_heard_at) {
      const m = j.last_heard_min, hm = j.last_heard_at;
      span.append(two('离线：最后联系于 ' + m + ' 分钟前（' + hm + '）', 'offline: last heard from ' + m + ' min ago (' + hm + ')'));
    } else {
      span.append(two('离线：今天尚无联系', 'offline: not heard from today'));
    }
    return span;
  }

  function windowState(w) {
    if (!w.open) return two('未开放', 'closed');
    if (w.paused) return two('暂停服务', 'paused');
    if (w.state === 'serving') return two('办理中', 'serving');
    if (w.state) return two('正在叫号', 'calling');
    return two('空闲', 'free');
  }

  function renderHall(s) {
    replaceChildren('liveness', liveness(s));
    replaceChildren('updated', two(s.day + ' 更新于 ' + s.built_at, s.day + ', updated ' + s.built_at));
    const windows = document.querySelector('#windows tbody');
    if (windows) {
      windows.replaceChildren(...s.windows.map(w => el('tr', { 'data-window': w.no, class: w.open ? 'open' : 'closed' },
        el('th', { scope: 'row' }, windowLabel(w.no, w.name)),
        el('td', { class: 'state' }, windowState(w)),
        el('td', { class: 'current' }, w.current ? el('strong', {}, w.current) : '—'))));
    }
    const services = document.querySelector('#services tbody');
    if (services) {
      services.replaceChildren(...s.services.map(v => el('tr', { 'data-service': v.id },
        el('th', { scope: 'row' }, el('a', { href: '/services/' + encodeURIComponent(v.id) }, two(v.name.zh, v.name.en))),
        el('td', { class: 'waiting' }, v.waiting),
        el('td', { class: 'wait' }, v.open ? two('约 ' + v.wait_min + ' 分钟', 'about ' + v.wait_min + ' min')
                                           : two('暂无窗口办理', 'no window open')))));
    }
    const calls = s.calls.slice(0, 6);
    replaceChildren('calls', ...calls.map(c => el('li', { 'data-ticket': c.ticket, 'data-window': c.window },
      el('strong', {}, c.ticket), ' → ', windowLabel(c.window, c.window_name), ' ', el('small', {}, c.at))));
    const none = document.getElementById('no-calls');
    if (none) none.hidden = calls.length > 0;
    const figures = [two('今天已办结 ' + s.served + ' 人', s.served + ' served today')];
    if (s.mean_wait_min !== null && s.mean_wait_min !== undefined) {
      figures.push(' · ', two('平均等候 ' + s.mean_wait_min + ' 分钟', 'mean wait ' + s.mean_wait_min + ' min'));
    }
    replaceChildren('figures', ...figures);
    main.dataset.version = s.version;
  }

  function ticketStatus(t) {
    const box = el('div', { id: 'ticket-status', class: 'ticket-status', 'data-state': t.state });
    const w = t.window || 0;
    if (t.state === 'waiting') {
      const ahead = t.ahead || 0, wait = t.wait_min || 0;
      box.append(
        el('p', { class: 'big', id: 'position' }, two('您排在第 ' + (ahead + 1) + ' 位', 'You are number ' + (ahead + 1) + ' in the queue')),
        el('p', { id: 'ahead', 'data-ahead': ahead }, ahead === 0
          ? two('下一位就是您，请留意叫号。', 'You are next: listen for your number.')
          : two('前面还有 ' + ahead + ' 人', ahead + ' ahead of you')),
        el('p', { id: 'wait' }, two('预计等候约 ' + wait + ' 分钟', 'Estimated wait: about ' + wait + ' min')));
    } else if (t.state === 'called') {
      box.append(el('p', { class: 'big call', id: 'called', 'data-window': w }, two('请到 ' + w + ' 号窗口', 'Please go to window ' + w)));
      if (t.window_name && t.window_name.zh) box.append(el('p', {}, two(t.window_name.zh, t.window_name.en)));
      if (t.called_at) box.append(el('p', {}, two('叫号时间 ' + t.called_at, 'called at ' + t.called_at)));
    } else if (t.state === 'serving') {
      box.append(el('p', { class: 'big', id: 'serving', 'data-window': w }, two('正在 ' + w + ' 号窗口办理', 'Being served at window ' + w)));
    } else if (t.state === 'done') {
      box.append(el('p', { class: 'big', id: 'done' }, two('已办结，感谢您的耐心。', 'Finished. Thank you for your patience.')));
      if (t.case) box.append(el('p', {}, two('办件编号：', 'Case number: '), el('code', {}, t.case)));
    } else {
      box.append(el('p', { class: 'big', id: 'missed' }, two('已过号', 'Missed')),
        el('p', {}, two('叫号时您不在，请到服务台重新排队。', 'You were called but not there: ask at the help desk to queue again.')));
    }
    return box;
  }

  function renderTicket(j) {
    const old = document.getElementById('ticket-status');
    if (!old) { location.reload(); return; } // the "not found" page: the ticket has arrived
    const fresh = ticketStatus(j.ticket);
    // Replaced only when it changed, so a screen reader announces changes, not every poll.
    if (old.dataset.state !== fresh.dataset.state || old.textContent !== fresh.textContent) {
      old.replaceWith(fresh);
    }
    replaceChildren('liveness', liveness(j));
    replaceChildren('updated', two('更新于 ' + j.built_at, 'updated ' + j.built_at));
  }

  async function poll() {
    if (document.hidden) return;
    try {
      const r = await fetch(URL_, { headers: { Accept: 'application/json' }, cache: 'no-cache' });
      if (r.status === 404) return; // not (yet) known: keep trying
      if (!r.ok) throw new Error('HTTP ' + r.status);
      const j = await r.json();
      if (main.dataset.live === 'hall') renderHall(j); else renderTicket(j);
      main.classList.remove('stale');
    } catch (e) {
      main.classList.add('stale');
    }
  }
  setInterval(poll, EVERY);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) poll(); });
})();

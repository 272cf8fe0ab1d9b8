"""End-to-end encryption on the page: the padlock of a 1:1 chat, what it says,
and the Encryption dialog (fingerprints, trust, the trust model).

It reads `app.e2e` (app/e2e.py) and its `OmemoManager` and listens to the
app's "omemo" event. Rooms have no padlock yet (group OMEMO is to come).
Fingerprints and device labels are text nodes only.
"""

from __future__ import annotations

from browser import document, timer, window  # type: ignore[import-not-found]

from roost.ui.handlers import logged as _logged

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

TRUST_LABELS = (
    ("blind", "Trusted (not verified)"),
    ("verified", "Verified"),
    ("untrusted", "Not trusted yet"),
    ("distrusted", "Never trust"),
)

STATUS = {
    "untrusted": (
        "Encryption is off in this browser: it isn't a trusted device, so it keeps no"
        " keys. Messages go unencrypted and encrypted ones can't be read here."
    ),
    "setting-up": "Setting up encryption in this browser…",
    "failed": "Encryption isn't available in this browser.",
}


def _el(id_: str) -> Any:
    return document.getElementById(id_)


class E2EView:
    """The padlock and the Encryption dialog for the open 1:1 chat."""

    def __init__(self, view: Any, app: Any) -> None:
        self.view = view
        self.app = app
        self.active: str | None = None
        self.actions = _el("e2e-actions")
        self.toggle = _el("e2e-toggle")
        self.status = _el("e2e-status")
        self.dialog: Any = None
        self.in_room = False
        # The QR library (vendor/qrcode-generator.js) is loaded on first use:
        # None (not yet), "loading", "ready" or "failed"; then() calls waiting.
        self._qr_state: str | None = None
        self._qr_waiting: list[Any] = []
        self._scan_stream: Any = None
        self._scan_timer: Any = None
        self.devices_button = _el("e2e-devices")
        self.toggle.addEventListener("click", _logged("e2e-toggle", self._on_toggle))
        self.devices_button.addEventListener("click", _logged("e2e-open", self._on_open))
        app.on("omemo", _logged("omemo", self._on_omemo))
        app.on("room", _logged("e2e-room", self._on_room))

    # -- which chat ------------------------------------------------------------
    def opened(self, bare: str | None, kind: str = "chat") -> None:
        """`kind`: "chat" (1:1), "room", or "private" (an occupant: no OMEMO)."""
        self.active = None if bare is None or kind == "private" else bare
        self.in_room = kind == "room"
        if self.active is not None and not self.in_room:
            self.app.e2e.conversation_opened(self.active)
        if self.dialog is not None and self.dialog.open:
            self.dialog.close()
        self.render()

    def _on_omemo(self, jid: str | None = None) -> None:
        if jid is None or jid == self.active or jid == self.app.own_jid:
            self.render()
            if self.dialog is not None and self.dialog.open:
                self._fill_dialog()

    def _on_room(self, bare: str | None = None, *_args: object) -> None:
        if self.in_room and (bare is None or bare == self.active):
            self.render()  # its features (members-only, non-anonymous) came

    def render(self) -> None:
        bare = self.active
        e2e = self.app.e2e
        if bare is None:
            self.actions.hidden = True
            self.status.hidden = True
            return
        if self.in_room:
            self._render_room(bare)
            return
        self.devices_button.hidden = False
        state = e2e.state
        manager = e2e.manager
        ready = manager is not None and manager.ready
        self.actions.hidden = not ready
        on = ready and manager.encryption_on(bare)
        self.toggle.setAttribute("aria-pressed", "true" if on else "false")
        self.toggle.textContent = "Encrypted" if on else "Not encrypted"
        self.toggle.title = (
            "Messages in this chat are end-to-end encrypted (OMEMO). Click to turn it off."
            if on
            else "Click to encrypt messages in this chat (OMEMO)."
        )
        text = STATUS.get(state, "")
        if ready and not on:
            if manager.has_devices(bare):
                text = "Encryption is off in this chat: messages go unencrypted."
            elif bare in manager.lists_known:
                text = (
                    "This contact's app doesn't offer encryption (OMEMO),"
                    " so messages go unencrypted."
                )
            else:
                text = ""
        self.status.textContent = text
        self.status.hidden = not text

    def _render_room(self, bare: str) -> None:
        """Rooms: a padlock only where OMEMO can work (members-only and
        non-anonymous: every member's devices can be found)."""
        e2e = self.app.e2e
        ready = e2e.manager is not None and e2e.manager.ready
        possible = ready and self.app.rooms.omemo_ready(bare)
        self.actions.hidden = not possible
        self.devices_button.hidden = True
        on = possible and e2e.room_encryption_on(bare)
        self.toggle.setAttribute("aria-pressed", "true" if on else "false")
        self.toggle.textContent = "Encrypted" if on else "Not encrypted"
        self.toggle.title = (
            "Messages in this room are end-to-end encrypted for every member (OMEMO)."
            if on else "Click to encrypt messages in this room (OMEMO)."
        )
        text = ""
        if possible and not on:
            text = "Encryption is off in this room: messages go unencrypted."
        self.status.textContent = text
        self.status.hidden = not text

    def _on_toggle(self, _ev: Any) -> None:
        manager = self.app.e2e.manager
        bare = self.active
        if manager is None or bare is None or not manager.ready:
            return
        if self.in_room:
            manager.set_encryption(bare, not self.app.e2e.room_encryption_on(bare))
        else:
            manager.set_encryption(bare, not manager.encryption_on(bare))
        self.render()

    # -- the Encryption dialog ------------------------------------------------------
    def _on_open(self, _ev: Any) -> None:
        if self.active is None or self.app.e2e.manager is None:
            return
        dialog = self.dialog
        if dialog is None:
            dialog = self.dialog = self.view.rooms._make_dialog("e2e-template")
            dialog.querySelector("#e2e-close").addEventListener("click", lambda _ev: dialog.close())
            dialog.querySelector("#e2e-padlock").addEventListener(
                "change", _logged("e2e-padlock", self._on_padlock)
            )
            dialog.querySelector("#e2e-manual").addEventListener(
                "change", _logged("e2e-manual", self._on_manual)
            )
            dialog.addEventListener("change", _logged("e2e-trust", self._on_trust))
            dialog.querySelector("#e2e-qr-show").addEventListener(
                "click", _logged("e2e-qr-show", self._on_show_qr)
            )
            dialog.querySelector("#e2e-verify-form").addEventListener(
                "submit", _logged("e2e-verify", self._on_verify)
            )
            dialog.querySelector("#e2e-scan").addEventListener(
                "click", _logged("e2e-scan", self._on_scan)
            )
            dialog.addEventListener("close", _logged("e2e-scan-stop", self._stop_scan))
            self._offer_scan(dialog)
        self.view.rooms._show_dialog(dialog)
        self._reset_verify(dialog)
        self._fill_dialog()

    def _fill_dialog(self) -> None:
        dialog, manager, bare = self.dialog, self.app.e2e.manager, self.active
        if dialog is None or manager is None or bare is None:
            return
        dialog.querySelector("#e2e-title").textContent = "Encryption with " + self.view._title(bare)
        dialog.querySelector("#e2e-padlock").checked = bool(manager.encryption_on(bare))
        dialog.querySelector("#e2e-manual").checked = bool(manager.manual_trust)
        dialog.querySelector("#e2e-own").textContent = (
            manager.own_fingerprint() + "  (device " + str(manager.device_id) + ")"
        )
        theirs = manager.active_devices(bare)
        empty = dialog.querySelector("#e2e-their-empty")
        empty.textContent = (
            "No devices found: their app doesn't offer OMEMO." if bare in manager.lists_known
            else "Looking for their devices…"
        )
        empty.hidden = bool(theirs)
        self._fill_devices(dialog.querySelector("#e2e-their"), theirs)
        mine = manager.active_devices(self.app.own_jid or "")
        dialog.querySelector("#e2e-mine-empty").hidden = bool(mine)
        self._fill_devices(dialog.querySelector("#e2e-mine"), mine)

    def _fill_devices(self, ul: Any, devices: list[Any]) -> None:
        ul.replaceChildren()
        for device in devices:
            li = document.createElement("li")
            li.className = "e2e-device"
            title = document.createElement("p")
            title.className = "device-title"
            title.textContent = "Device " + str(device.device_id)
            fingerprint = document.createElement("p")
            fingerprint.className = "fingerprint"
            fingerprint.textContent = device.fingerprint or "Fingerprint not known yet"
            select_id = "e2e-trust-" + device.jid + "-" + str(device.device_id)
            label = document.createElement("label")
            label.htmlFor = select_id
            label.textContent = "Trust"
            select = document.createElement("select")
            select.id = select_id
            select.className = "e2e-trust"
            select.dataset.jid = device.jid
            select.dataset.device = str(device.device_id)
            for value, text in TRUST_LABELS:
                option = document.createElement("option")
                option.value = value
                option.textContent = text
                select.appendChild(option)
            select.value = device.trust
            for node in (title, fingerprint, label, select):
                li.appendChild(node)
            ul.appendChild(li)

    def _on_padlock(self, ev: Any) -> None:
        manager, bare = self.app.e2e.manager, self.active
        if manager is not None and bare is not None:
            manager.set_encryption(bare, bool(ev.target.checked))

    def _on_manual(self, ev: Any) -> None:
        manager = self.app.e2e.manager
        if manager is not None:
            manager.set_manual_trust(bool(ev.target.checked))

    def _on_trust(self, ev: Any) -> None:
        target = ev.target
        if not target.classList.contains("e2e-trust"):
            return
        manager = self.app.e2e.manager
        if manager is not None:
            self.app.e2e.set_trust(str(target.dataset.jid), int(target.dataset.device),
                                   str(target.value))

    # -- verifying with a code (QR / xmpp: URI) ----------------------------------------
    def _reset_verify(self, dialog: Any) -> None:
        panel = dialog.querySelector("#e2e-qr-panel")
        panel.hidden = True
        dialog.querySelector("#e2e-qr-show").setAttribute("aria-expanded", "false")
        dialog.querySelector("#e2e-verify-field").value = ""
        result = dialog.querySelector("#e2e-verify-result")
        result.textContent = ""
        result.className = "e2e-verify-result"

    def _on_show_qr(self, _ev: Any) -> None:
        from roost.app.omemo_verify import own_uri

        dialog, manager = self.dialog, self.app.e2e.manager
        if dialog is None or manager is None:
            return
        panel = dialog.querySelector("#e2e-qr-panel")
        button = dialog.querySelector("#e2e-qr-show")
        if not panel.hidden:
            panel.hidden = True
            button.setAttribute("aria-expanded", "false")
            return
        uri = own_uri(manager)
        error = dialog.querySelector("#e2e-qr-error")
        dialog.querySelector("#e2e-qr-uri").textContent = uri
        error.hidden = True
        panel.hidden = False
        button.setAttribute("aria-expanded", "true")
        canvas = dialog.querySelector("#e2e-qr-canvas")
        canvas.setAttribute(
            "aria-label",
            "QR code of your OMEMO fingerprints (this browser's device "
            + str(manager.device_id) + "). The same code as text follows.",
        )

        def cannot() -> None:
            canvas.hidden = True
            error.textContent = "The QR code can't be drawn here; the text below works too."
            error.hidden = False

        def draw() -> None:
            if self._qr_state != "ready" or not uri:
                cannot()
                return
            canvas.hidden = False
            try:
                _draw_qr(canvas, uri)
            except Exception:  # e.g. too many devices for one QR code
                cannot()

        self._with_qr_library(draw)

    def _with_qr_library(self, then: Any) -> None:
        if self._qr_state in ("ready", "failed"):
            then()
            return
        self._qr_waiting.append(then)
        if self._qr_state == "loading":
            return
        meta = document.querySelector('meta[name="roost-qrcode-src"]')
        src = meta.getAttribute("content") if meta is not None else None
        if not src:
            self._qr_loaded("failed")
            return
        self._qr_state = "loading"
        script = document.createElement("script")
        script.addEventListener("load", lambda _ev: self._qr_loaded("ready"))
        script.addEventListener("error", lambda _ev: self._qr_loaded("failed"))
        script.src = src
        document.head.appendChild(script)

    def _qr_loaded(self, state: str) -> None:
        self._qr_state = state
        waiting, self._qr_waiting = self._qr_waiting, []
        for then in waiting:
            then()

    def _on_verify(self, ev: Any) -> None:
        ev.preventDefault()
        dialog = self.dialog
        if dialog is not None:
            self._verify_text(str(dialog.querySelector("#e2e-verify-field").value))

    def _verify_text(self, text: str) -> None:
        from roost.app.omemo_verify import (
            VerifyError,
            apply_verification,
            describe,
            parse_verification_uri,
        )

        dialog, manager, bare = self.dialog, self.app.e2e.manager, self.active
        if dialog is None or manager is None or bare is None:
            return
        out = dialog.querySelector("#e2e-verify-result")
        try:
            parsed = parse_verification_uri(text)
        except VerifyError as exc:
            out.className = "e2e-verify-result bad"
            out.textContent = str(exc) + " Nothing was verified."
            return
        expected = manager.own_jid if parsed[0] == manager.own_jid else bare
        result = apply_verification(manager, expected, parsed, self.app.e2e.set_trust)
        out.className = "e2e-verify-result " + ("good" if result.ok else "bad")
        out.textContent = describe(result)
        self._fill_dialog()  # the trust selects show the new state

    # Scanning: only where the browser has a barcode reader (BarcodeDetector),
    # a camera, and the page may use it (Permissions-Policy); hidden otherwise.
    def _offer_scan(self, dialog: Any) -> None:
        button = dialog.querySelector("#e2e-scan")
        button.hidden = True
        if not _has(window, "BarcodeDetector") or not _camera_allowed():
            return
        media = window.navigator.mediaDevices if _has(window.navigator, "mediaDevices") else None
        if media is None or not _has(media, "getUserMedia"):
            return

        def listed(devices: Any) -> None:
            for device in devices:
                if device.kind == "videoinput":
                    button.hidden = False
                    return

        media.enumerateDevices().then(listed, lambda _err: None)

    def _on_scan(self, _ev: Any) -> None:
        dialog = self.dialog
        if dialog is None or self._scan_stream is not None:
            return
        video = dialog.querySelector("#e2e-scan-video")
        out = dialog.querySelector("#e2e-verify-result")
        detector = window.BarcodeDetector.new({"formats": ["qr_code"]})

        def started(stream: Any) -> None:
            self._scan_stream = stream
            video.srcObject = stream
            video.hidden = False
            video.play()
            out.className = "e2e-verify-result"
            out.textContent = "Point the camera at their QR code…"
            self._scan_timer = timer.set_interval(lambda: look(), 400)

        def look() -> None:
            if self._scan_stream is None or video.readyState < 2:
                return
            detector.detect(video).then(found, lambda _err: None)

        def found(codes: Any) -> None:
            for code in codes:
                text = str(code.rawValue)
                if text[:5].lower() == "xmpp:":
                    self._stop_scan()
                    dialog.querySelector("#e2e-verify-field").value = text
                    self._verify_text(text)
                    return

        def refused(_err: Any) -> None:
            out.className = "e2e-verify-result bad"
            out.textContent = "The camera isn't available: paste their code instead."

        window.navigator.mediaDevices.getUserMedia(
            {"video": {"facingMode": "environment"}}
        ).then(started, refused)

    def _stop_scan(self, *_args: object) -> None:
        if self._scan_timer is not None:
            timer.clear_interval(self._scan_timer)
            self._scan_timer = None
        stream, self._scan_stream = self._scan_stream, None
        if stream is None:
            return
        for track in stream.getTracks():
            track.stop()
        if self.dialog is not None:
            import javascript  # type: ignore[import-not-found]

            video = self.dialog.querySelector("#e2e-scan-video")
            video.srcObject = javascript.NULL  # Brython's None is not JS null here
            video.hidden = True


def _has(obj: Any, name: str) -> bool:
    try:
        return bool(getattr(obj, name, None))
    except Exception:
        return False


def _camera_allowed() -> bool:
    """False where the page's Permissions-Policy forbids the camera."""
    for name in ("permissionsPolicy", "featurePolicy"):
        policy = getattr(document, name, None) if _has(document, name) else None
        if policy is not None:
            return bool(policy.allowsFeature("camera"))
    return True


QUIET_ZONE = 4  # modules of white around the code (ISO/IEC 18004)
CELL = 4  # pixels per module; CSS scales the canvas


def _draw_qr(canvas: Any, text: str) -> None:
    """Draw `text` (ASCII) as a QR code (error correction M, byte mode) with the
    vendored library: it does the module loop in JS. The canvas keeps
    `data-modules` (the module count) so the size can be checked."""
    qr = window.qrcode(0, "M")
    qr.addData(text, "Byte")
    qr.make()
    count = int(qr.getModuleCount())
    size = (count + 2 * QUIET_ZONE) * CELL
    # setAttribute: Brython turns `elt.width = n` into a CSS width, not the bitmap's.
    canvas.setAttribute("width", str(size))
    canvas.setAttribute("height", str(size))
    canvas.dataset.modules = str(count)
    ctx = canvas.getContext("2d")
    ctx.fillStyle = "#ffffff"
    ctx.fillRect(0, 0, size, size)
    ctx.save()
    ctx.translate(QUIET_ZONE * CELL, QUIET_ZONE * CELL)
    qr.renderTo2dContext(ctx, CELL)
    ctx.restore()

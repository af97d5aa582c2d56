/* Passkeys: the browser's half of the two WebAuthn ceremonies (identity.passkeys.pages).
 *
 * A form marked data-passkey="register" or "sign-in" carries its CSRF token and an empty
 * "credential" field. On submit this script posts the token to the form's data-options URL,
 * hands the options to navigator.credentials, writes the authenticator's answer into
 * "credential" as JSON and submits the form for real: the server verifies it (py_webauthn)
 * and answers with a redirect or a page, as for any form. The sign-in form also offers the
 * passkeys in the email field's autofill (conditional mediation) when the browser can.
 * Messages are the page's own localized elements (data-passkey-message), shown by name.
 * No inline script anywhere: the CSP allows only this file.
 */
(function () {
  "use strict";

  function decode(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var binary = atob(b64), bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function encode(buffer) {
    var bytes = new Uint8Array(buffer), binary = "";
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(json) {
    json.challenge = decode(json.challenge);
    json.user.id = decode(json.user.id);
    (json.excludeCredentials || []).forEach(function (c) { c.id = decode(c.id); });
    return json;
  }

  function requestOptions(json) {
    json.challenge = decode(json.challenge);
    (json.allowCredentials || []).forEach(function (c) { c.id = decode(c.id); });
    return json;
  }

  function credentialJSON(credential) {
    var r = credential.response;
    var out = {
      id: credential.id,
      rawId: encode(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: encode(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = encode(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = encode(r.authenticatorData);
      out.response.signature = encode(r.signature);
      if (r.userHandle) { out.response.userHandle = encode(r.userHandle); }
    }
    return JSON.stringify(out);
  }

  function show(form, name) {
    var box = form.closest("[data-passkey-box]") || form;
    box.querySelectorAll("[data-passkey-message]").forEach(function (el) {
      el.hidden = el.getAttribute("data-passkey-message") !== name;
    });
  }

  function busy(form, on) {
    form.querySelectorAll("button").forEach(function (b) { b.disabled = on; });
  }

  function fetchOptions(form) {
    var body = new URLSearchParams();
    body.set("csrf_token", form.elements.csrf_token.value);
    if (form.elements.password) { body.set("password", form.elements.password.value); }
    return fetch(form.getAttribute("data-options"), {
      method: "POST", body: body, credentials: "same-origin", headers: { Accept: "application/json" }
    }).then(function (response) {
      if (response.ok) { return response.json(); }
      return response.json().catch(function () { return {}; }).then(function (problem) {
        var type = String(problem.type || "");
        var error = new Error(type);
        error.passkey = type.endsWith("/reauthentication-required") ? "reauth"
          : type.endsWith("/login-failed") ? "password"
          : response.status === 429 ? "throttled"
          : type.endsWith("/too-many-passkeys") ? "too_many" : "failed";
        throw error;
      });
    });
  }

  function failed(form, error) {
    busy(form, false);
    if (error && error.name === "AbortError") { return; }
    var name = (error && error.passkey) || (error && error.name === "NotAllowedError" ? "cancelled"
      : error && error.name === "InvalidStateError" ? "exists" : "failed");
    if (name === "reauth" && form.getAttribute("data-fallback")) {
      window.location.assign(form.getAttribute("data-fallback"));
      return;
    }
    show(form, name);
  }

  function register(form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      show(form, "");
      busy(form, true);
      fetchOptions(form).then(function (options) {
        return navigator.credentials.create({ publicKey: creationOptions(options) });
      }).then(function (credential) {
        form.elements.credential.value = credentialJSON(credential);
        form.submit();
      }).catch(function (error) { failed(form, error); });
    });
  }

  function signIn(form) {
    var pending = null;

    function start(mediation) {
      if (pending) { pending.abort(); }
      var controller = new AbortController();
      pending = controller;
      return fetchOptions(form).then(function (options) {
        var request = { publicKey: requestOptions(options), signal: controller.signal };
        if (mediation) { request.mediation = mediation; }
        return navigator.credentials.get(request);
      }).then(function (credential) {
        if (!credential) { return; }
        form.elements.credential.value = credentialJSON(credential);
        busy(form, true);
        form.submit();
      });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      show(form, "");
      start(null).catch(function (error) { failed(form, error); });
    });

    // The passkeys in the email field's autofill: the field must say "webauthn".
    var field = document.querySelector('input[autocomplete~="username"]');
    if (field && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
        if (!available) { return; }
        if (field.autocomplete.split(/\s+/).indexOf("webauthn") < 0) {
          field.setAttribute("autocomplete", field.getAttribute("autocomplete") + " webauthn");
        }
        // The shopper asked for nothing yet: an autofill that cannot start says nothing (the
        // button still offers passkeys, and says what went wrong when pressed).
        start("conditional").catch(function () { return null; });
      });
    }
  }

  function ready() {
    var supported = !!(window.PublicKeyCredential && navigator.credentials);
    document.querySelectorAll("[data-passkey-box]").forEach(function (box) {
      box.hidden = false;
      if (!supported) {
        box.querySelectorAll("form[data-passkey]").forEach(function (form) {
          busy(form, true);
          show(form, "unsupported");
        });
      }
    });
    if (!supported) { return; }
    document.querySelectorAll('form[data-passkey="register"]').forEach(register);
    document.querySelectorAll('form[data-passkey="sign-in"]').forEach(signIn);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();

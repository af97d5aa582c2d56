"""Spanish for the msgids added on the ``polish`` branch (issue 14, part 5)."""

ES = {
    # preference center
    "Everything at once": "Todo a la vez",
    "Allow all": "Permitir todo",
    "Refuse all": "Rechazar todo",
    "These set every use that needs your consent. Statistics rest on our legitimate interest: object to them below.": "Estos botones fijan todos los usos que necesitan tu consentimiento. Las estadísticas se basan en nuestro interés legítimo: puedes oponerte más abajo.",
    "Earlier choices (%(count)s)": "Decisiones anteriores (%(count)s)",
    "Withdraw all consent?": "¿Retirar todo el consentimiento?",
    "This does the following at once, in every shop and service:": "Esto hace lo siguiente de una vez, en todas las tiendas y servicios:",
    "Turned off": "Se desactiva",
    "You object to": "Te opones a",
    "These do not need your consent (our legitimate interest), so withdrawing records your objection to them.": "Esto no necesita tu consentimiento (es nuestro interés legítimo), así que al retirarlo registramos tu oposición.",
    "Stays on": "Sigue activo",
    "They are part of your purchases, so they cannot be switched off while you have an account.": "Forman parte de tus compras, así que no se pueden desactivar mientras tengas una cuenta.",
    "You can allow any of them again later in your privacy settings.": "Puedes volver a permitir cualquiera de ellos más adelante en tus ajustes de privacidad.",
    "Yes, withdraw all": "Sí, retirarlo todo",
    "Cancel, keep my choices": "Cancelar y mantener mis decisiones",
    # OAuth / OpenID Connect error pages
    "The request was refused, so nothing was shared with the app.": "La solicitud se ha rechazado, así que no se ha compartido nada con la app.",
    "The app asked for information we do not share. Go back and try again; if it keeps happening, contact the shop.": "La app ha pedido información que no compartimos. Vuelve e inténtalo de nuevo; si sigue ocurriendo, ponte en contacto con la tienda.",
    "The app that sent you here asked for something we do not support. Contact the shop so they can fix it.": "La app que te ha traído hasta aquí ha pedido algo que no admitimos. Ponte en contacto con la tienda para que lo corrija.",
    "The app needs you to sign in or answer a question, but asked us not to show any page. Go back to the shop and sign in from there.": "La app necesita que inicies sesión o respondas a una pregunta, pero nos ha pedido que no mostremos ninguna página. Vuelve a la tienda e inicia sesión desde allí.",
    "Something went wrong on our side. Nothing was changed. Please try again in a moment.": "Algo ha fallado por nuestra parte. No se ha cambiado nada. Inténtalo de nuevo en un momento.",
    "Technical details for support": "Detalles técnicos para el servicio de atención",
    # branding and legal links
    "Legal": "Información legal",
    "Privacy policy": "Política de privacidad",
    "Terms of use": "Condiciones de uso",
    "privacy policy": "política de privacidad",
    "terms of use": "condiciones de uso",
    "By creating an account you accept the %(terms)s and confirm you have read the %(privacy)s.": "Al crear una cuenta aceptas las %(terms)s y confirmas que has leído la %(privacy)s.",
    "By creating an account you confirm you have read the %(privacy)s.": "Al crear una cuenta confirmas que has leído la %(privacy)s.",
    # mails
    "Confirm my email address": "Confirmar mi dirección de correo",
    "Confirm my subscription": "Confirmar mi suscripción",
    "Reset my password": "Restablecer mi contraseña",
    "Review or cancel the deletion": "Revisar o cancelar la eliminación",
    "Open the link": "Abrir el enlace",
    "Privacy policy:": "Política de privacidad:",
    "You are receiving this message because this email address was used for an account at %(brand)s.": "Recibes este mensaje porque esta dirección de correo se ha usado para una cuenta en %(brand)s.",
    # development mailbox
    "HTML version of %(subject)s": "Versión HTML de %(subject)s",
    "Plain-text version": "Versión en texto plano",
}

# ruff: noqa: E501  (msgids are the keys, each on one line as the templates have it)
"""Spanish for the self-service strings (issue 14, part 3); merged into the catalogue by the
integrator (``python tools/translate.py es tools/es/selfservice.py``)."""

ES = {
    "A change of your email address was requested": ("Se ha pedido cambiar tu dirección de correo"),
    "At least %(count)s characters. A few unrelated words are easy to remember and hard to guess.": (
        "Al menos %(count)s caracteres. Unas cuantas palabras sin relación entre sí son "
        "fáciles de recordar y difíciles de adivinar."
    ),
    "Cannot sign in? Reset your password:": "¿No puedes iniciar sesión? Restablece tu contraseña:",
    "Change password": "Cambiar la contraseña",
    "Change your email address": "Cambiar tu dirección de correo",
    "Change your password": "Cambiar tu contraseña",
    "Check the inbox of your new address: we have sent it a link. Your email address changes when you open it.": (
        "Revisa el buzón de tu nueva dirección: le hemos enviado un enlace. Tu dirección "
        "de correo cambiará cuando lo abras."
    ),
    "Confirm your new email address": "Confirma tu nueva dirección de correo",
    "Current password": "Contraseña actual",
    "Done: this is your email address now. Use it to sign in from now on.": (
        "Hecho: esta es ahora tu dirección de correo. Úsala para iniciar sesión a partir de ahora."
    ),
    "From now on you will sign in with %(email)s, and the shop's apps will see this address.": (
        "A partir de ahora iniciarás sesión con %(email)s, y las aplicaciones de la tienda "
        "verán esta dirección."
    ),
    'If it was not you, open your account, sign that device out under "Where you are signed in" and change your password:': (
        "Si no has sido tú, abre tu cuenta, cierra la sesión de ese dispositivo en «Dónde "
        "tienes la sesión iniciada» y cambia tu contraseña:"
    ),
    "If it was not you, sign in and change your password now, and sign out the devices you do not recognise:": (
        "Si no has sido tú, inicia sesión y cambia tu contraseña ahora, y cierra la sesión "
        "de los dispositivos que no reconozcas:"
    ),
    "If it was you, there is nothing to do here.": "Si has sido tú, no tienes que hacer nada aquí.",
    "If it was you, there is nothing to do.": "Si has sido tú, no tienes que hacer nada.",
    "If you did not ask for this, ignore this message: nothing will happen.": (
        "Si no lo has pedido, ignora este mensaje: no pasará nada."
    ),
    "Keep me signed in": "Mantener la sesión iniciada",
    "New email address": "Nueva dirección de correo",
    "New sign-in to your account": "Nuevo inicio de sesión en tu cuenta",
    "Not now: back to my account": "Ahora no: volver a mi cuenta",
    "Only on a device that is yours alone: you stay signed in even after closing the browser.": (
        "Solo en un dispositivo que únicamente uses tú: seguirás con la sesión iniciada "
        "aunque cierres el navegador."
    ),
    "Send the confirmation link": "Enviar el enlace de confirmación",
    "Sign out my other devices": "Cerrar la sesión en mis otros dispositivos",
    "Sign-in and security": "Inicio de sesión y seguridad",
    "Someone signed in to another account asked to use this email address for it. This address already has an account with us, so nothing was changed.": (
        "Alguien con la sesión iniciada en otra cuenta ha pedido usar esta dirección de "
        "correo para ella. Esta dirección ya tiene una cuenta con nosotros, así que no se ha "
        "cambiado nada."
    ),
    "Someone signed in to your account asked to change its email address. We have sent a confirmation link to the new address; nothing changes until it is opened.": (
        "Alguien con la sesión iniciada en tu cuenta ha pedido cambiar su dirección de "
        "correo. Hemos enviado un enlace de confirmación a la nueva dirección; no cambiará "
        "nada hasta que se abra."
    ),
    "Someone tried to use your email address": "Alguien ha intentado usar tu dirección de correo",
    "That address is now used by another account, so your email address was not changed.": (
        "Esa dirección la usa ahora otra cuenta, así que tu dirección de correo no ha cambiado."
    ),
    "That is already your email address.": "Esa ya es tu dirección de correo.",
    "The link has already been used, or your email address or password has changed since it was sent.": (
        "El enlace ya se ha usado, o tu dirección de correo o tu contraseña han cambiado "
        "desde que se envió."
    ),
    "The link is not valid for the account you are signed in with. Make sure you copied all of it, and that you are signed in to the account that asked for the change.": (
        "El enlace no es válido para la cuenta con la que has iniciado sesión. Comprueba "
        "que lo has copiado entero y que has iniciado sesión en la cuenta que pidió el cambio."
    ),
    "The password of your account was just changed.": (
        "Se acaba de cambiar la contraseña de tu cuenta."
    ),
    "Until you confirm, nothing changes: you keep signing in with your current address.": (
        "Hasta que lo confirmes no cambia nada: sigues iniciando sesión con tu dirección actual."
    ),
    "Use this address": "Usar esta dirección",
    "You asked to use this address for your account from now on. To confirm it, open this link:": (
        "Has pedido usar esta dirección para tu cuenta a partir de ahora. Para confirmarlo, "
        "abre este enlace:"
    ),
    "Your account was just signed in to from a device or browser it had not been used on before:": (
        "Se acaba de iniciar sesión en tu cuenta desde un dispositivo o navegador en el que "
        "no se había usado antes:"
    ),
    "Your address now is %(email)s. We will send a link to the new one; it becomes your address when you open it.": (
        "Tu dirección ahora es %(email)s. Enviaremos un enlace a la nueva; pasará a ser tu "
        "dirección cuando lo abras."
    ),
    "Your current password is not right. Try again.": (
        "Tu contraseña actual no es correcta. Inténtalo de nuevo."
    ),
    "Your email address has not changed. You can ask for a new link from your account.": (
        "Tu dirección de correo no ha cambiado. Puedes pedir un enlace nuevo desde tu cuenta."
    ),
    "Your password is changed. We have sent you an email about it.": (
        "Tu contraseña se ha cambiado. Te hemos enviado un correo para contártelo."
    ),
    "kept signed in": "sesión mantenida",
    "The password and the email address you sign in with.": (
        "La contraseña y la dirección de correo con las que inicias sesión."
    ),
}

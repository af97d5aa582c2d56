"""Spanish for the strings the data subject requests added (branch dsr)."""

ES = {
    "Cancel the deletion": "Cancelar la eliminación",
    "Confirm your password": "Confirma tu contraseña",
    "Delete my account": "Eliminar mi cuenta",
    "Delete your account": "Eliminar tu cuenta",
    "Done: your account will be deleted on the date below. We have sent you an email about it.": (
        "Hecho: tu cuenta se eliminará en la fecha que ves abajo. Te lo hemos contado en un correo."
    ),
    "Download a copy": "Descargar una copia",
    "Download my data": "Descargar mis datos",
    "Download my data or delete my account": "Descargar mis datos o eliminar mi cuenta",
    "Get a copy of everything we hold about you, or delete your account.": (
        "Obtén una copia de todo lo que guardamos sobre ti, o elimina tu cuenta."
    ),
    "If it was not you, sign in, cancel the deletion and change your password.": (
        "Si no has sido tú, inicia sesión, cancela la eliminación y cambia tu contraseña."
    ),
    "On %(requested)s you asked us to delete your account and the personal data it holds.": (
        "El %(requested)s nos pediste que elimináramos tu cuenta y los datos personales que "
        "contiene."
    ),
    "One file (JSON) with everything we hold about you: your details, where you are signed in, "
    "the apps you allowed, every privacy choice you made with its signed receipt, and our "
    "security log entries about you.": (
        "Un archivo (JSON) con todo lo que guardamos sobre ti: tus datos, dónde tienes la sesión "
        "iniciada, las aplicaciones a las que diste permiso, cada elección de privacidad que "
        "hiciste con su justificante firmado y las entradas de nuestro registro de seguridad "
        "sobre ti."
    ),
    "That password is not right. Try again.": "Esa contraseña no es correcta. Inténtalo de nuevo.",
    "The deletion is cancelled. Your account stays as it is.": (
        "La eliminación está cancelada. Tu cuenta sigue como estaba."
    ),
    "We delete your account and your details, sign you out of our web store, app and every "
    "other app you use with it, and tell our services to forget you.": (
        "Eliminamos tu cuenta y tus datos, cerramos tu sesión en nuestra tienda web, en la app "
        "y en cualquier otra aplicación en la que la uses, y pedimos a nuestros servicios que "
        "te olviden."
    ),
    "We will delete it on %(date)s. Until then you can change your mind: sign in and cancel "
    "the deletion here:": (
        "La eliminaremos el %(date)s. Hasta entonces puedes cambiar de opinión: inicia sesión y "
        "cancela la eliminación aquí:"
    ),
    "What stays, without your name, email, phone or address: the record of the privacy "
    "choices you made and our security log, which we must keep as proof.": (
        "Lo que se conserva, sin tu nombre, correo, teléfono ni dirección: el registro de las "
        "elecciones de privacidad que hiciste y nuestro registro de seguridad, que debemos "
        "guardar como prueba."
    ),
    "You have %(days)s days to change your mind: the deletion happens after that.": (
        "Tienes %(days)s días para cambiar de opinión: la eliminación se hace después."
    ),
    "Your account will be deleted": "Se eliminará tu cuenta",
    "Your account will be deleted on %(date)s. Until then you can still use it, and cancel "
    "the deletion.": (
        "Tu cuenta se eliminará el %(date)s. Hasta entonces puedes seguir usándola y cancelar "
        "la eliminación."
    ),
    "Your data": "Tus datos personales",
}

ES = {
    "This page is for privacy officers": "Esta página es para los responsables de privacidad",
    "Your account does not have access to it. If you need it, ask an operator to grant you the officer role.": "Tu cuenta no tiene acceso. Si lo necesitas, pide a un operador que te asigne el rol de responsable de privacidad.",
}
ES.update({
    "Your password, to download your data": "Tu contraseña, para descargar tus datos",
    "Your password, to delete your account": "Tu contraseña, para eliminar tu cuenta",
})

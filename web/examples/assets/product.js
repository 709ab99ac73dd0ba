// The example product page's own script: what a legacy page would do by hand. It adds the widget's
// script tag once a reader key is known (this example ships none), and uses the widget's
// `stockline:availability` event to disable "Add to basket" when the SKU is out of stock.

/* global document, sessionStorage, location, URLSearchParams */

const KEY = 'stockline.viewKey';
const sku = new URLSearchParams(location.search).get('sku') || 'TEE-BLK-M';
const $ = (id) => document.getElementById(id);

$('product-sku').textContent = sku;
const names = {
  TEE: 'Classic Tee',
  POLO: 'Piqué Polo',
  JEANS: 'Straight Jeans',
  JACKET: 'Field Jacket',
  SNEAKER: 'Canvas Sneaker',
};
$('product-name').textContent = `${names[sku.split('-')[0]] ?? 'Northwind Classic'} (${sku})`;

let added = false;
function addWidget(key) {
  if (added) return;
  added = true;
  const tag = document.createElement('script');
  tag.src = '/widget/availability.js';
  tag.async = true;
  tag.dataset.sku = sku;
  tag.dataset.key = key;
  tag.dataset.target = '#availability';
  document.body.append(tag);
  $('key-form').hidden = true;
}

$('availability').addEventListener('stockline:availability', (event) => {
  const { available, stock } = event.detail;
  const button = $('add-to-basket');
  button.disabled = stock === 'out_of_stock';
  $('basket-note').textContent =
    stock === 'out_of_stock'
      ? 'Sold out everywhere right now.'
      : `${available} available across the chain: reserved for you at checkout.`;
});

$('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const key = $('reader-key').value.trim();
  if (!key) return;
  sessionStorage.setItem(KEY, key);
  addWidget(key);
});

$('forget').addEventListener('click', () => {
  sessionStorage.removeItem(KEY);
  location.reload();
});

const saved = sessionStorage.getItem(KEY);
if (saved) addWidget(saved);
